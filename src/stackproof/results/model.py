"""What a run found: per test, then per requirement. Frozen, so reports serialise facts.

Schema `stackproof.results/2` (documented in the README):

    {"schema": ..., "run": RunInfo, "summary": {verdict: count},
     "requirements": [RequirementResult, ...],   # every catalog ID, in catalog order
     "policy": [PolicyRecord, ...]}              # every policy value, against the catalog's
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from stackproof.errors import split_enable

SCHEMA = "stackproof.results/2"

Outcome = Literal["pass", "fail", "error", "skip"]
Verdict = Literal["pass", "fail", "error", "partial", "skip", "waived", "not_covered"]
VERDICTS: tuple[Verdict, ...] = (
    "pass",
    "fail",
    "error",
    "partial",
    "skip",
    "waived",
    "not_covered",
)
# What `--strict` fails a run on: anything a gate cannot count as proven.
UNPROVEN: tuple[Verdict, ...] = ("partial", "skip", "not_covered")
PolicyDirection = Literal["same", "tighter", "looser", "changed"]


@dataclass(frozen=True, slots=True)
class Figure:
    """A measured number, with the objective it is held against (if any)."""

    name: str
    value: float
    unit: str
    objective: float | None = None
    comparison: Literal["<=", ">="] | None = None
    test: str = ""

    def __post_init__(self) -> None:
        if (self.objective is None) != (self.comparison is None):
            raise ValueError(f"figure {self.name}: an objective needs a comparison and back")

    @property
    def meets_objective(self) -> bool | None:
        if self.objective is None:
            return None
        if self.comparison == "<=":
            return self.value <= self.objective
        return self.value >= self.objective

    @property
    def margin(self) -> float | None:
        """How far inside its objective the value is, in its unit (negative: missed)."""
        if self.objective is None:
            return None
        if self.comparison == "<=":
            return self.objective - self.value
        return self.value - self.objective

    @property
    def share_of_objective(self) -> float | None:
        """What share of its objective the value uses: 1.0 is the limit, above it missed."""
        if self.objective is None:
            return None
        if self.comparison == "<=":
            return self.value / self.objective if self.objective else float("inf")
        return self.objective / self.value if self.value else float("inf")


@dataclass(frozen=True, slots=True)
class Timeline:
    """One fault's course as a readiness endpoint saw it, in seconds from the fault's start.

    `detected_s`: readiness first answered unready; `recovered_s`: it first answered 200
    again, counted from the fault's removal (`removed_s`). None: it never did in time.
    `samples` are (seconds, status), status None when no answer came.
    """

    fault: str  # "down", "timeout", "latency 5000 ms", "kill", "pause", ...
    target: str  # what was faulted: a link ("bot-postgres") or a service
    observed: str  # whose readiness was watched
    detected_s: float | None
    removed_s: float | None
    recovered_s: float | None
    detect_objective_s: float | None = None
    recover_objective_s: float | None = None
    samples: tuple[tuple[float, int | None], ...] = ()
    test: str = ""


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """What was sent and what came back, or any other observation a verdict rests on."""

    label: str
    data: Any
    test: str = ""


@dataclass(frozen=True, slots=True)
class TestResult:
    __test__: ClassVar[bool] = False  # a result, not a test class for pytest to collect

    nodeid: str
    requirements: tuple[str, ...]
    outcome: Outcome
    duration_s: float
    message: str | None = None
    evidence: tuple[EvidenceItem, ...] = ()
    figures: tuple[Figure, ...] = ()
    timelines: tuple[Timeline, ...] = ()

    def __post_init__(self) -> None:
        if not self.requirements:
            raise ValueError(f"{self.nodeid}: a test result must name a requirement")


@dataclass(frozen=True, slots=True)
class TestSummary:
    """A test as listed under a requirement."""

    __test__: ClassVar[bool] = False

    nodeid: str
    outcome: Outcome
    duration_s: float
    message: str | None


@dataclass(frozen=True, slots=True)
class Untested:
    """A test of a requirement that did not run its check, and why (its skip reason)."""

    nodeid: str
    reason: str

    @property
    def why(self) -> str:
        return split_enable(self.reason)[0]

    @property
    def enable(self) -> str | None:
        """What would let it run (a profile key, a backend), where the reason says."""
        return split_enable(self.reason)[1]


@dataclass(frozen=True, slots=True)
class WaiverInfo:
    reason: str
    expires: str
    active: bool


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    """A policy value the run used, beside the catalog's, and which way it moved."""

    key: str  # "headers.hsts_min_age", as under [policy] in the profile
    requirement: str
    catalog: Any
    used: Any
    direction: PolicyDirection
    waiver: WaiverInfo | None = None  # the requirement's waiver, where it has one


@dataclass(frozen=True, slots=True)
class StackFailureInfo:
    """A stack whose service exited on its own: the one cause of its later tests' errors."""

    label: str
    service: str
    exit_status: int | None
    detail: str
    log_tail: str

    def headline(self) -> str:
        return f"stack {self.label!r} broken: service {self.service!r} {self.detail}"


@dataclass(frozen=True, slots=True)
class RequirementResult:
    id: str
    title: str
    suite: str
    verdict: Verdict
    tests: tuple[TestSummary, ...] = ()
    evidence: tuple[EvidenceItem, ...] = ()
    figures: tuple[Figure, ...] = ()
    waiver: WaiverInfo | None = None
    timelines: tuple[Timeline, ...] = ()
    untested: tuple[Untested, ...] = ()  # for partial and skip: what was not tested and why
    loosened: tuple[str, ...] = ()  # policy keys of this requirement looser than the catalog


@dataclass(frozen=True, slots=True)
class StackInfo:
    label: str
    ready_after_s: float | None


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    started: str
    finished: str
    duration_s: float
    backend: str
    backend_reason: str
    profile: str
    profile_path: str
    environment: str
    stackproof_version: str
    python: str
    exit_status: int
    interrupted: bool = False
    mutant: str | None = None
    stacks: tuple[StackInfo, ...] = ()
    redacted_secrets: tuple[str, ...] = field(default=())
    errors: tuple[str, ...] = ()
    stack_failures: tuple[StackFailureInfo, ...] = ()
    strict: bool = False  # --strict: partial, skip and not_covered fail the run
    selected: tuple[str, ...] = ()  # --requirement IDs; empty: the whole catalog counts


@dataclass(frozen=True, slots=True)
class Results:
    run: RunInfo
    requirements: tuple[RequirementResult, ...]
    policy: tuple[PolicyRecord, ...] = ()

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(VERDICTS, 0)
        for requirement in self.requirements:
            counts[requirement.verdict] += 1
        return counts

    def with_verdict(self, *verdicts: Verdict) -> list[str]:
        return [r.id for r in self.requirements if r.verdict in verdicts]

    def counted(self) -> list[RequirementResult]:
        """The requirements this run answers for: those chosen with --requirement, or all."""
        chosen = set(self.run.selected)
        return [r for r in self.requirements if not chosen or r.id in chosen]

    def unproven(self) -> list[RequirementResult]:
        """Counted requirements that are partial, skipped or not covered (what --strict fails)."""
        return [r for r in self.counted() if r.verdict in UNPROVEN]

    def to_json_data(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "run": asdict(self.run),
            "summary": self.summary(),
            "requirements": [asdict(r) for r in self.requirements],
            "policy": [asdict(p) for p in self.policy],
        }
