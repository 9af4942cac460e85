"""Containers: the Docker engine, the images stackproof builds, and cleanup of what runs leave.

`labels` says which objects belong to which run; `engine` reaches the Docker engine and
removes a run's objects; `liveness` tells live runs from dead ones; `watcher` cleans up
after a harness that was killed; `cleaner` finds what dead runs left; `images` (with
`wheels`, `context` and `base`) builds the reference stack's images offline.
"""
