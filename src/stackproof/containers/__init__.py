"""Containers: the Docker engine, the images stackproof builds, and cleanup of what runs leave.

`labels` says which objects belong to which run (and harness); `engine` reaches the Docker
engine and removes a run's objects; `watcher` cleans up after a harness that was killed (and
`backends.compose.leftovers`, in `stackproof clean`, after one whose watcher could not);
`images` (with `wheels`, `context` and `base`) builds the reference stack's images offline.
"""
