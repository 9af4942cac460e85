"""The process backend's partitions: a service cut off from everything on loopback (iptables).

A stack's rules live in a chain of its own (`spf-<hash of run ID and stack label>`), reached
by one jump from `INPUT` on `lo`, and every rule — the jump included — carries the comment
`stackproof run=<run ID> stack=<label>`. Removing that jump and that chain removes exactly
what this stack added: no other rule is read, changed or flushed. DROP in INPUT is a real
black hole: SYNs and data vanish and senders retransmit until their own timeouts give up.

Partitions need root and the `iptables` command; `unavailable()` says why not otherwise.
Which ports isolate a service (its own, and its links' proxies) the stack tells.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence

from stackproof.errors import CapabilityMissingError
from stackproof.run import RunContext
from stackproof.signals import deferred_interrupts

IPTABLES_TIMEOUT_S = 20.0
WAIT_FOR_LOCK_S = "5"  # other users of iptables on the host hold its lock briefly


class PartitionUnavailableError(CapabilityMissingError):
    """Partitions cannot be made here; the message says why (a skip reason)."""


class IptablesError(RuntimeError):
    """An iptables command failed; the message has the command and its stderr."""


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iptables", "-w", WAIT_FOR_LOCK_S, *args],
        capture_output=True,
        text=True,
        timeout=IPTABLES_TIMEOUT_S,
        check=False,
    )


def unavailable() -> str | None:
    """Why partitions cannot be made on this machine, or None when they can."""
    if os.geteuid() != 0:
        return "iptables partitions need root, and this run is not root"
    if shutil.which("iptables") is None:
        return "iptables is not installed (Debian: apt-get install iptables)"
    listing = _iptables("-S", "INPUT")
    if listing.returncode != 0:
        return f"iptables cannot list rules here: {listing.stderr.strip()}"
    return None


def run_tag(run_id: str, label: str) -> str:
    return f"stackproof run={run_id} stack={label}"


def chain_name(tag: str) -> str:
    return "spf-" + hashlib.sha256(tag.encode()).hexdigest()[:12]  # iptables allows 28


def tagged_rules(tag: str) -> list[str]:
    """Every rule (in `iptables -S` form) carrying `tag`, or in its chain: what is left."""
    listing = _iptables("-S")
    if listing.returncode != 0:
        raise IptablesError(f"iptables -S: {listing.stderr.strip()}")
    chain = chain_name(tag)
    return [line for line in listing.stdout.splitlines() if tag in line or chain in line]


class LoopbackPartitions:
    """One stack's partitions (`Partitions`). Each `isolated` block undoes itself; `close`
    removes the chain. `ports_of(service)` names the ports that reach a service or that it
    reaches."""

    def __init__(
        self, run: RunContext, label: str, ports_of: Callable[[str], Sequence[int]]
    ) -> None:
        self.run = run
        self.label = label
        self.ports_of = ports_of
        self.tag = run_tag(run.run_id, label)
        self.chain = chain_name(self.tag)
        self._installed = False

    def _must(self, *args: str) -> None:
        done = _iptables(*args)
        if done.returncode != 0:
            raise IptablesError(f"iptables {' '.join(args)}: {done.stderr.strip()}")

    def _comment(self) -> list[str]:
        return ["-m", "comment", "--comment", self.tag]

    def _jump(self) -> list[str]:
        return ["INPUT", "-i", "lo", *self._comment(), "-j", self.chain]

    def _install(self) -> None:
        if self._installed:
            return
        self.run.record("iptables_chain", stack=self.label, chain=self.chain, tag=self.tag)
        self._installed = True  # from here on, close() owes a removal
        self._must("-N", self.chain)
        self._must("-I", *self._jump())

    def _rule(self, port: int) -> list[str]:
        return [self.chain, "-p", "tcp", "-d", "127.0.0.1", "--dport", str(port)]

    def unavailable(self) -> str | None:
        return unavailable()

    def isolated(self, service: str) -> contextlib.AbstractContextManager[None]:
        """Drop every packet to the ports that reach `service` or that it reaches."""
        return self.ports_isolated(service, self.ports_of(service))

    @contextlib.contextmanager
    def ports_isolated(self, what: str, ports: Sequence[int]) -> Iterator[None]:
        """Drop every packet to `ports` for the duration of the block."""
        if reason := unavailable():
            raise PartitionUnavailableError(reason)
        rules = [[*self._rule(port), *self._comment(), "-j", "DROP"] for port in sorted(ports)]
        try:
            self._install()
            self.run.record("partition", stack=self.label, what=what, ports=sorted(ports))
            for rule in rules:
                self._must("-A", *rule)
            yield
        finally:
            with deferred_interrupts():
                for rule in rules:
                    _iptables("-D", *rule)  # a rule never added is simply not there
                self.run.record("partition_removed", stack=self.label, what=what)

    def close(self) -> None:
        """Remove this stack's jump and chain (and any rule still in it)."""
        if not self._installed:
            return
        with deferred_interrupts():
            _iptables("-D", *self._jump())
            _iptables("-F", self.chain)
            _iptables("-X", self.chain)
            self._installed = False
            self.run.record("iptables_chain_removed", stack=self.label, chain=self.chain)
