"""What the process backend leaves when its harness is killed, for `stackproof clean`:
the iptables chain of each of its stacks (`partitions.py`). Registered in
`leftovers.clean.CLEANERS`.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence

from stackproof.backends.process import partitions
from stackproof.leftovers.clean import GoneHarness, Leftover


class IptablesChains:
    """The partition chain of each stack of a gone harness (`partitions.py`)."""

    name = "iptables"

    def find(self, gone: Sequence[GoneHarness]) -> list[Leftover]:
        stacks = [r for harness in gone for r in harness.records("stack")]
        if not stacks or partitions.unavailable() is not None:
            return []
        listing = _iptables("-S")  # once: a long run had dozens of stacks
        if listing.returncode != 0:
            raise RuntimeError(f"iptables -S: {listing.stderr.strip()}")
        found = []
        for harness in gone:
            for stack in harness.records("stack"):
                tag = partitions.run_tag(stack["run_id"], stack["label"])
                chain = partitions.chain_name(tag)
                rules = [r for r in listing.stdout.splitlines() if tag in r or chain in r]
                if rules:
                    what = f"iptables chain {chain} ({tag}, {len(rules)} rules)"
                    found.append(Leftover(self.name, what, harness.id, (tag, chain, rules)))
        return found

    def remove(self, leftover: Leftover) -> None:
        tag, chain, rules = leftover.handle
        for rule in rules:  # the jumps into the chain, in `-S` form: "-A INPUT ..."
            words = shlex.split(rule)
            if words[:1] == ["-A"] and words[1] != chain:
                _iptables("-D", *words[1:])
        _iptables("-F", chain)
        _iptables("-X", chain)
        if left := partitions.tagged_rules(tag):
            raise RuntimeError(f"rules left: {left}")


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iptables", "-w", partitions.WAIT_FOR_LOCK_S, *args],
        capture_output=True,
        text=True,
        timeout=partitions.IPTABLES_TIMEOUT_S,
        check=False,
    )
