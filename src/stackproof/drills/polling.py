"""How a deploy polled a release's health (R-DEP-1), judged from what the release received.

An unready release (`stackproof.drills.unready`) logs every request it receives; the probes
of the deploy are judged against the policy: at most one per interval, not much less often,
and none past the deadline.
"""

from __future__ import annotations

import itertools
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from stackproof.checks.problems import Problems


@dataclass(frozen=True, slots=True)
class ProbeLog:
    """When the deploy's probes reached the release (monotonic seconds, in order)."""

    probes: tuple[float, ...]

    @classmethod
    def read(cls, path: Path, ignore_agent: str) -> ProbeLog:
        """The log at `path`, less the requests of `ignore_agent` (the harness's watcher)."""
        if not path.exists():
            return cls(())
        records = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
        return cls(tuple(sorted(r["t"] for r in records if r.get("agent") != ignore_agent)))

    def gaps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.probes)]


@dataclass(frozen=True, slots=True)
class Polling:
    """The policy's polling: every `interval_s`, for at most `deadline_s`."""

    interval_s: float
    deadline_s: float

    @property
    def slack_s(self) -> float:
        return max(1.0, 0.2 * self.interval_s)  # a poll may start late on a loaded machine

    def span(self, log: ProbeLog, origin: float | None = None) -> float:
        return log.probes[-1] - log.probes[0] if log.probes else 0.0

    def overran(self, log: ProbeLog, origin: float | None = None) -> bool:
        """A probe came after the deadline (the deploy can be stopped at once)."""
        return len(log.probes) > 1 and self.span(log, origin) > self.deadline_s + self.slack_s

    def problems(self, log: ProbeLog, origin: float | None = None) -> Problems:
        interval, deadline, slack = self.interval_s, self.deadline_s, self.slack_s
        problems = Problems("health polling of an unready release")
        span, gaps = self.span(log, origin), log.gaps()
        problems.expect(
            len(log.probes) >= 2, "polls", f"{len(log.probes)} health probe(s) reached it"
        )
        problems.expect(
            span <= deadline + slack,
            "deadline",
            f"polled for {span:.1f} s, beyond the {deadline:g} s deadline",
        )
        problems.expect(
            span >= deadline - interval - slack,
            "deadline",
            f"gave up after {span:.1f} s, before the {deadline:g} s deadline",
        )
        if gaps:
            problems.expect(
                min(gaps) >= 0.8 * interval,
                "interval",
                f"probes {min(gaps):.2f} s apart, more often than every {interval:g} s",
            )
            problems.expect(
                statistics.median(gaps) <= interval + slack,
                "interval",
                f"probes {statistics.median(gaps):.2f} s apart (median), "
                f"less often than every {interval:g} s",
            )
        return problems
