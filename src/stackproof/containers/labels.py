"""The labels that make an engine object stackproof's, and say whose.

Every container, network, volume and per-run image a run creates carries `RUN` (its run
ID): cleanup selects by that label and nothing else, so an object without it is never
touched. Images built for reuse (the base, the reference images) carry `IMAGE` and no
run label: no cleanup of runs ever removes them.
"""

from __future__ import annotations

from typing import Final

RUN: Final = "org.stackproof.run"
# The harness process (its marker's ID, `leftovers.harness`) that made the object: a run ID
# may repeat (`--run-id=run`), a harness ID never does, so cleanup after a gone harness
# selects by both.
HARNESS: Final = "org.stackproof.harness"
IMAGE: Final = "org.stackproof.image"  # what the image is: "base", "postgres", ...
INPUTS: Final = "org.stackproof.inputs"  # digest of everything the image was built from


def run_labels(run_id: str, harness_id: str | None = None) -> dict[str, str]:
    """The labels of every object a run creates (and the harness that made it)."""
    found = {RUN: run_id}
    if harness_id is not None:
        found[HARNESS] = harness_id
    return found


def run_filter(
    run_id: str | None = None, harness_id: str | None = None
) -> dict[str, str | list[str] | bool]:
    """An engine-side filter: the objects of `run_id` (made by `harness_id`), or of any run."""
    wanted = [f"{RUN}={run_id}" if run_id is not None else RUN]
    if harness_id is not None:
        wanted.append(f"{HARNESS}={harness_id}")
    return {"label": wanted}
