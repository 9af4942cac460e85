"""Readiness that proves the right process answers: the stack's own, alive, on its own ports.

A service's readiness condition talks to a port; something else may answer there (a fault
proxy handed the same port, a leftover of an earlier run, the service's previous instance).
So the stack's readiness for every service also asks that its process lives and, where the
OS tells (psutil, this user's processes or root), that it or a descendant listens on every
port the stack gave it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stackproof.procs import ManagedProcess, listening_ports
from stackproof.readiness import Check


@dataclass(frozen=True, slots=True)
class ServesFrom:
    """`process` lives, and it (or a descendant) listens on every one of `ports`."""

    process: ManagedProcess
    ports: Sequence[int]

    @property
    def description(self) -> str:
        listed = ", ".join(str(port) for port in self.ports)
        return f"{self.process.spec.name}'s own process listens on {listed}"

    def check(self) -> Check:
        pid = self.process.pid
        if pid is None or not self.process.running():
            return Check(False, self.process.exited_reason() or "its process is not running")
        owned = listening_ports(pid, self.ports)
        if owned is None:
            return Check(True, "alive (this OS does not say who owns the ports)")
        missing = [port for port in self.ports if port not in owned]
        if missing:
            return Check(False, f"pid {pid} and its children do not listen on {missing}")
        return Check(True, f"pid {pid} listens on {sorted(self.ports)}")
