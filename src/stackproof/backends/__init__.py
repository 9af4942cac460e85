"""Backends: how stacks are reached. One module each, one line in the registry."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from stackproof.backends.base import (
    Backend,
    Capability,
    Endpoint,
    LifecycleEvent,
    OpsAccess,
    PublicFront,
    ServiceControl,
    Stack,
    TrialStart,
)
from stackproof.backends.process import ProcessBackend
from stackproof.backends.remote import RemoteBackend
from stackproof.errors import BackendUnavailableError

BACKENDS: dict[str, type[Backend]] = {
    "process": ProcessBackend,
    "remote": RemoteBackend,
}

__all__ = [
    "BACKENDS",
    "Backend",
    "Capability",
    "Endpoint",
    "LifecycleEvent",
    "OpsAccess",
    "PublicFront",
    "ServiceControl",
    "Stack",
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


def select_backend(requested: str) -> tuple[Backend, str]:
    """The backend to use and why it was chosen (the report states the reason)."""
    if requested != "auto":
        if requested not in BACKENDS:
            known = ", ".join(["auto", *BACKENDS])
            raise BackendUnavailableError(f"backend {requested!r} is unknown (known: {known})")
        backend_class = BACKENDS[requested]
        if reason := backend_class.unavailable():
            raise BackendUnavailableError(f"backend {requested!r} cannot run here: {reason}")
        return backend_class(), f"{requested}: requested"
    engine = _docker_engine_answers()
    if engine and "compose" in BACKENDS:
        return BACKENDS["compose"](), "auto: a Docker engine answers; using compose"
    why = (
        "a Docker engine answers but this version has no compose backend"
        if engine
        else "no Docker engine answers"
    )
    return ProcessBackend(), f"auto: {why}; using process"
