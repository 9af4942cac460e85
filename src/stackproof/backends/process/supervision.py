"""Services under `stackproof.supervisor`, when their profile sets a restart policy (R-RES-5).

The managed process is then the supervisor; the service is its one child. Killing "the
service" means what `kill -9 <main pid>` means under systemd: the service's processes die,
the supervisor lives and applies the policy.
"""

from __future__ import annotations

import json
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

from stackproof.procs import ManagedProcess, ProcessSpec
from stackproof.profile.chaos import RestartPolicy

EVENTS_FILE = "supervisor.jsonl"


def events_path(state_dir: Path) -> Path:
    return state_dir / EVENTS_FILE


def supervised(spec: ProcessSpec, policy: RestartPolicy, events: Path) -> ProcessSpec:
    """`spec` run under the supervisor with `policy`; starts and exits go to `events`."""
    supervisor = [
        sys.executable, "-m", "stackproof.supervisor",
        "--name", spec.name,
        "--policy", policy.policy,
        "--max-restarts", str(policy.max_restarts),
        "--window", f"{policy.window_s:g}",
        "--backoff", f"{policy.backoff_s:g}",
        "--events", str(events),
        "--",
    ]  # fmt: skip
    return replace(spec, argv=(*supervisor, *spec.argv))


def _supervisor(process: ManagedProcess) -> psutil.Process | None:
    if not process.running() or process.pid is None:
        return None
    try:
        return psutil.Process(process.pid)
    except psutil.NoSuchProcess:
        return None


def service_pid(process: ManagedProcess) -> int | None:
    """The supervised service's main process, or None between a death and its restart."""
    supervisor = _supervisor(process)
    if supervisor is None:
        return None
    try:
        children = [c for c in supervisor.children() if c.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return None
    return children[0].pid if len(children) == 1 else None


def kill_service(process: ManagedProcess) -> int | None:
    """SIGKILL the supervised service and its descendants; return the killed main PID."""
    supervisor = _supervisor(process)
    if supervisor is None:
        return None
    try:
        children = supervisor.children()
        family = [d for c in children for d in (c, *c.children(recursive=True))]
    except psutil.NoSuchProcess:
        return None
    for member in family:
        try:
            member.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue
    return children[0].pid if children else None


def events(path: Path) -> list[dict[str, Any]]:
    """The supervisor's record of starts and exits (empty before the first start)."""
    if not path.exists():
        return []
    lines = path.read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
