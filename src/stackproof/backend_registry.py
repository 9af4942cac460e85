"""The backends by name, as dotted paths imported on first use (testinfra's `BACKENDS`).

One table read by the CLI, the pytest option and the profile model, so a new backend is one
module plus one line here. A leaf: naming a backend imports none of them, so a machine
without Docker never imports the compose backend's libraries to run processes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackproof.backends.base import Backend

BACKENDS: dict[str, str] = {
    "process": "stackproof.backends.process:ProcessBackend",
    "remote": "stackproof.backends.remote:RemoteBackend",
    "compose": "stackproof.backends.compose:ComposeBackend",
}
AUTO = "auto"  # compose where a Docker engine answers, else process
BACKEND_CHOICES: tuple[str, ...] = (AUTO, *BACKENDS)


def backend_class(name: str) -> type[Backend]:
    """The backend class registered as `name`; KeyError naming the known ones otherwise."""
    if name not in BACKENDS:
        known = ", ".join(BACKEND_CHOICES)
        raise KeyError(f"backend {name!r} is unknown (known: {known})")
    module, _, attribute = BACKENDS[name].partition(":")
    found: type[Backend] = getattr(importlib.import_module(module), attribute)
    return found
