"""The kill matrix: run the suites against every mutant; a check no mutant fails is a defect.

Each mutant runs in its own pytest process: the tests it names (`tests = [...]` in its
mutant.toml; every one must fail), or else the tests of its expected requirements, stopping
at the first failure when it expects one requirement. It is killed when each expected
requirement has a test whose outcome is `fail` — an `error` proves nothing about the check,
so it never kills. Each run leaves a record, `<reports>/<mutant>/record.json`:

    {"name", "expects", "targets", "verdicts", "failed_tests", "errored_tests", "killed",
     "digest", ...}

and `kill-matrix.json` gathers them with, per test of the suites, the mutants that failed it
(`killed_by`) and the tests none can fail (`mutants/unkillable.toml`, each with its reason).

All of them: `python -m stackproof.mutants.killmatrix [--jobs N] [--backend B] [names...]`.
With `--backend`, the runs use that backend and their records go to `<reports>/<backend>-<mutant>/`;
the compose-only mutants (`compose-*`) run only with `--backend=compose`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stackproof.mutants import Mutant, discover
from stackproof.mutants.coverage import TestCoverage, per_test_coverage
from stackproof.mutants.unkillable import load_unkillable

RUN_ID = "run"
TIMEOUT_S = 900.0
RECORD = "record.json"
STOP_WITHIN_S = 60.0  # a mutant's run told to stop (Ctrl-C) cleans its stacks up in this
# Mutants also run on the compose backend (one or more per suite), and those that only a
# container stack has (compose-*: hardening as `docker inspect` shows it; the host suite).
COMPOSE_MUTANTS: tuple[str, ...] = (
    "server-tokens-on",  # tls
    "hsts-missing",  # headers
    "readiness-always-200",  # health (a per-run image of the mutated service)
    "signature-ignores-timestamp",  # auth
    "dsn-logged-at-startup",  # redaction
    "bot-fails-without-cache",  # chaos
)
COMPOSE_ONLY_PREFIX = "compose-"


def compose_only(mutant: Mutant) -> bool:
    return mutant.name.startswith(COMPOSE_ONLY_PREFIX)


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the suites, the base profile, the mutants and the reports are."""

    suites: Path
    profile: Path
    mutants: Path
    reports: Path

    @classmethod
    def of_project(cls, root: Path) -> Layout:
        return cls(
            suites=root / "suites",
            profile=root / "profiles" / "reference.toml",
            mutants=root / "mutants",
            reports=root / "reports" / "mutants",
        )

    @property
    def project(self) -> Path:
        return self.suites.parent

    def reports_of(self, mutant: Mutant, backend: str | None = None) -> Path:
        """A mutant's reports and record; a run on a named backend has a folder of its own."""
        return self.reports / (mutant.name if backend is None else f"{backend}-{mutant.name}")


@dataclass(frozen=True, slots=True)
class MutantOutcome:
    name: str
    description: str
    expects: tuple[str, ...]
    targets: tuple[str, ...]  # the tests it names; each must fail (empty: its requirements')
    verdicts: dict[str, str]  # of the expected requirements
    failed_tests: tuple[str, ...]  # outcome `fail`: what this mutant kills
    errored_tests: dict[str, str]  # outcome `error`, with its first line: kills nothing
    killed: bool
    exit_status: int
    duration_s: float
    report: str
    digest: str  # of what decided the result: the mutant, the stack, the suites, the harness
    error: str | None = None  # why it is not killed

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> MutantOutcome:
        data = dict(data)
        for key in ("expects", "targets", "failed_tests"):
            data[key] = tuple(data[key])
        return cls(**data)


def digest_of(mutant: Mutant, layout: Layout) -> str:
    """What a mutant's result depends on, hashed: a record with another digest is stale."""
    trees = [
        mutant.folder,
        layout.project / "stack",
        layout.suites,
        Path(__file__).resolve().parent.parent,
    ]
    hashed = hashlib.sha256()
    for tree in trees:
        files = [tree] if tree.is_file() else sorted(tree.rglob("*"))
        for path in files:
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                hashed.update(str(path.relative_to(tree.parent)).encode())
                hashed.update(path.read_bytes())
    profile = mutant.profile_of(layout.project, layout.profile)
    hashed.update(profile.read_bytes())
    if profile != layout.profile:  # another stack than the reference: its tree too
        for path in sorted(profile.parent.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                hashed.update(str(path.relative_to(profile.parent)).encode())
                hashed.update(path.read_bytes())
    return hashed.hexdigest()[:16]


def mutant_command(
    mutant: Mutant, layout: Layout, reports: Path, backend: str | None = None
) -> list[str]:
    # `-c` pins the suites' config: pytest would otherwise look for one in the folders
    # that paths among the options (the profile's) have in common with the suites.
    command = [
        sys.executable, "-m", "pytest", "-c", str(layout.suites / "pytest.ini"),
        f"--profile={mutant.profile_of(layout.project, layout.profile)}",
        f"--mutant={mutant.name}",
        f"--mutants-dir={layout.mutants}",
        f"--reports-dir={reports}",
        f"--run-id={RUN_ID}",
        *([f"--backend={backend}"] if backend is not None else []),
        "-q", "--no-header",
    ]  # fmt: skip
    if mutant.targets:
        return [*command, *(str(layout.suites / nodeid) for nodeid in mutant.targets)]
    return [
        *command,
        str(layout.suites),
        *(f"--requirement={requirement}" for requirement in mutant.expects),
        # One expected requirement: its first failing test decides, the rest need not run.
        *(["--maxfail=1"] if len(mutant.expects) == 1 else []),
    ]


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0][:300] if lines else ""


def judge(
    mutant: Mutant, results: dict[str, Any]
) -> tuple[dict[str, str], set[str], dict[str, str], str | None]:
    """Verdicts of the expected requirements, failed and errored tests, and why not killed."""
    requirements = {r["id"]: r for r in results["requirements"]}
    tests = {t["nodeid"]: t for r in results["requirements"] for t in r["tests"]}
    failed = {n for n, t in tests.items() if t["outcome"] == "fail"}
    errored = {n: _first_line(t["message"]) for n, t in tests.items() if t["outcome"] == "error"}
    verdicts = {i: requirements[i]["verdict"] for i in mutant.expects}
    reasons = []
    for i in mutant.expects:
        if not any(t["outcome"] == "fail" for t in requirements[i]["tests"]):
            reasons.append(f"{i}: no test failed (verdict {verdicts[i]})")
    for nodeid in mutant.targets:
        outcome = tests[nodeid]["outcome"] if nodeid in tests else "not run"
        if outcome != "fail":
            said = _first_line(tests[nodeid]["message"]) if nodeid in tests else ""
            reasons.append(f"{nodeid}: {outcome}, expected fail{': ' + said if said else ''}")
    return verdicts, failed, errored, "; ".join(reasons) or None


class _Running:
    """Mutant runs in flight, so that an interrupted matrix stops them (they clean up)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._processes: set[subprocess.Popen[str]] = set()
        self.stopping = False

    def start(self, command: list[str]) -> subprocess.Popen[str]:
        with self._lock:
            if self.stopping:
                raise RuntimeError("the kill matrix was stopped")
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            self._processes.add(process)
            return process

    def done(self, process: subprocess.Popen[str]) -> None:
        with self._lock:
            self._processes.discard(process)

    def stop_all(self) -> None:
        with self._lock:
            self.stopping = True
            processes = list(self._processes)
        for process in processes:
            process.terminate()  # the run treats SIGTERM as Ctrl-C: it removes its stacks
        for process in processes:
            try:
                process.wait(STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                process.kill()


def run_mutant(
    mutant: Mutant,
    layout: Layout,
    timeout_s: float = TIMEOUT_S,
    running: _Running | None = None,
    backend: str | None = None,
) -> MutantOutcome:
    """Run one mutant's tests (on `backend`; None: the profile's), judge them, and write its
    record."""
    reports = layout.reports_of(mutant, backend)
    results_path = reports / RUN_ID / "results.json"
    results_path.unlink(missing_ok=True)  # never judge an earlier run's results
    tracker = running or _Running()
    started = time.monotonic()
    process = tracker.start(mutant_command(mutant, layout, reports, backend))
    try:
        output, _ = process.communicate(timeout=timeout_s)
        exit_status = process.returncode
    except subprocess.TimeoutExpired:
        process.kill()
        output = f"no result within {timeout_s:g} s\n{process.communicate()[0]}"
        exit_status = -1
    finally:
        tracker.done(process)
    duration = round(time.monotonic() - started, 2)
    verdicts: dict[str, str] = {}
    failed: set[str] = set()
    errored: dict[str, str] = {}
    if results_path.exists():
        verdicts, failed, errored, why = judge(mutant, json.loads(results_path.read_text("utf-8")))
    else:
        why = "no results.json"
    outcome = MutantOutcome(
        name=mutant.name,
        description=mutant.spec.description,
        expects=mutant.expects,
        targets=mutant.targets,
        verdicts=verdicts,
        failed_tests=tuple(sorted(failed)),
        errored_tests=errored,
        killed=why is None,
        exit_status=exit_status,
        duration_s=duration,
        report=str(results_path.parent),
        digest=digest_of(mutant, layout),
        error=None if why is None else f"{why}; the run said:\n{output[-3000:]}",
    )
    write_record(outcome, reports / RECORD)
    return outcome


def write_record(outcome: MutantOutcome, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(outcome), indent=2) + "\n", "utf-8")


def read_records(
    layout: Layout, mutants: Iterable[Mutant], backend: str | None = None
) -> dict[str, MutantOutcome | None]:
    """Each mutant's last record (None: it never ran, or its inputs changed since)."""
    found: dict[str, MutantOutcome | None] = {}
    for mutant in mutants:
        path = layout.reports_of(mutant, backend) / RECORD
        record = None
        if path.is_file():
            record = MutantOutcome.from_record(json.loads(path.read_text("utf-8")))
            if record.digest != digest_of(mutant, layout):
                record = None
        found[mutant.name] = record
    return found


@dataclass
class MutantRuns:
    """Mutant runs started in the background, `jobs` side by side in the order given;
    `outcome(name)` waits for one. A test per mutant can so keep several running at once
    (they mostly wait on deadlines and polls). `jobs=0` runs each one when asked for.
    `backend`: the backend they run on (None: the profile's)."""

    mutants: Sequence[Mutant]
    layout: Layout
    jobs: int = 3
    backend: str | None = None
    _futures: dict[str, Future[MutantOutcome]] = field(default_factory=dict)
    _running: _Running = field(default_factory=_Running)
    _pool: ThreadPoolExecutor | None = None

    def __post_init__(self) -> None:
        if self.jobs > 0:
            self._pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="mutant")
            for mutant in self.mutants:
                self._futures[mutant.name] = self._pool.submit(
                    run_mutant, mutant, self.layout, running=self._running, backend=self.backend
                )

    def outcome(self, name: str) -> MutantOutcome:
        if name in self._futures:
            return self._futures[name].result()
        mutant = next(m for m in self.mutants if m.name == name)
        return run_mutant(mutant, self.layout, running=self._running, backend=self.backend)

    def close(self) -> None:
        """Stop what still runs (after Ctrl-C, say) and wait for the threads."""
        for future in self._futures.values():
            future.cancel()
        if any(not f.done() for f in self._futures.values()):
            self._running.stop_all()
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def kill_matrix(
    mutants: Sequence[Mutant], layout: Layout, jobs: int = 2, backend: str | None = None
) -> list[MutantOutcome]:
    runs = MutantRuns(mutants, layout, max(1, jobs), backend)
    try:
        return [runs.outcome(m.name) for m in mutants]
    finally:
        runs.close()


def write_kill_matrix(
    outcomes: Sequence[MutantOutcome], path: Path, coverage: TestCoverage | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document: dict[str, Any] = {
        "mutants": [asdict(outcome) for outcome in outcomes],
        "killed": sum(o.killed for o in outcomes),
        "survived": [o.name for o in outcomes if not o.killed],
    }
    if coverage is not None:
        document |= {
            "killed_by": coverage.killed_by,
            "unkillable": coverage.unkillable,
            "not_killed": coverage.not_killed,
        }
    path.write_text(json.dumps(document, indent=2) + "\n", "utf-8")


def table(outcomes: Sequence[MutantOutcome]) -> str:
    lines = []
    for outcome in outcomes:
        state = "killed" if outcome.killed else "SURVIVED"
        verdicts = ", ".join(f"{i}={v}" for i, v in outcome.verdicts.items()) or "no results"
        failed = len(outcome.failed_tests)
        lines.append(
            f"{state:<9} {outcome.name:<36} {verdicts}; {failed} test(s) failed "
            f"({outcome.duration_s:.1f} s)"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the project folder")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--backend",
        help="run the mutants on this backend (default: the profile's); the compose-only "
        "mutants (compose-*) run only with --backend=compose",
    )
    args = parser.parse_args(argv)
    layout = Layout.of_project(args.root.resolve())
    every = discover(layout.mutants)
    unknown = set(args.names) - {m.name for m in every}
    if unknown:
        parser.error(f"no such mutant(s): {', '.join(sorted(unknown))}")
    if args.backend != "compose":
        every = [m for m in every if not compose_only(m) or m.name in args.names]
    mutants = [m for m in every if not args.names or m.name in args.names]
    outcomes = kill_matrix(mutants, layout, args.jobs, args.backend)
    coverage = None
    if not args.names:  # the per-test matrix needs every mutant's record
        coverage = per_test_coverage(layout, outcomes, load_unkillable(layout.mutants))
    matrix = layout.reports / (
        "kill-matrix.json" if args.backend is None else f"kill-matrix-{args.backend}.json"
    )
    write_kill_matrix(outcomes, matrix, coverage)
    print(table(outcomes))
    if coverage is not None and coverage.not_killed:
        print(f"tests no mutant fails: {', '.join(coverage.not_killed)}")
    print(f"kill matrix: {matrix}")
    killed = all(o.killed for o in outcomes)
    return 0 if killed and (coverage is None or not coverage.problems()) else 1


if __name__ == "__main__":
    sys.exit(main())
