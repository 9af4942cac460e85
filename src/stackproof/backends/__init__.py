"""Backends: how stacks are reached. One module each, one line in `stackproof.backend_registry`.

The interface (`base`) and its value types (`values`) are re-exported here; the backends
themselves are imported only when one is selected.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

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


def _docker_engine_answers() -> bool:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    socket_path = Path(host.removeprefix("unix://"))
    if not socket_path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1.0)
            client.connect(str(socket_path))
            client.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b"OK" in client.recv(1024)
    except OSError:
        return False


def _chosen(name: str, reason: str) -> tuple[Backend, str]:
    try:
        backend_type = backend_class(name)
    except KeyError as error:
        raise BackendUnavailableError(str(error.args[0])) from None
    if why_not := backend_type.unavailable():
        raise BackendUnavailableError(f"backend {name!r} cannot run here: {why_not}")
    return backend_type(), reason


def select_backend(requested: str) -> tuple[Backend, str]:
    """The backend to use and why it was chosen (the report states the reason)."""
    if requested != AUTO:
        return _chosen(requested, f"{requested}: requested")
    engine = _docker_engine_answers()
    if engine and "compose" in BACKENDS:
        return _chosen("compose", "auto: a Docker engine answers; using compose")
    why = (
        "a Docker engine answers but this version has no compose backend"
        if engine
        else "no Docker engine answers"
    )
    return _chosen("process", f"auto: {why}; using process")
