"""The kill matrix: run the suites against every mutant; a mutant no check kills is a defect.

Each mutant runs in its own pytest process with only the tests that name its expected
requirements, and is killed when every one of those requirements gets a `fail` verdict (an
`error` is not a kill: it proves nothing about the check). Writes `kill-matrix.json`:

    {"mutants": [{"name", "expects": [ids], "failed": [ids], "killed": bool, ...}]}

Run all of them: `python -m stackproof.mutants.killmatrix [--jobs N] [names...]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from stackproof.mutants import Mutant, discover

RUN_ID = "run"
TIMEOUT_S = 600.0
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
class MutantOutcome:
    name: str
    description: str
    expects: tuple[str, ...]
    failed: tuple[str, ...]
    verdicts: dict[str, str]
    killed: bool
    exit_status: int
    duration_s: float
    report: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the suites, the base profile, the mutants and the reports are."""

    suites: Path
    profile: Path
    mutants: Path
    reports: Path


def run_mutant(
    mutant: Mutant, layout: Layout, timeout_s: float = TIMEOUT_S, backend: str | None = None
) -> MutantOutcome:
    reports = layout.reports / (mutant.name if backend is None else f"{backend}-{mutant.name}")
    # `-c` pins the suites' config: pytest would otherwise look for one in the folders
    # that paths among the options (the profile's) have in common with the suites.
    command = [
        sys.executable, "-m", "pytest", "-c", str(layout.suites / "pytest.ini"),
        str(layout.suites),
        f"--profile={layout.profile}",
        f"--mutant={mutant.name}",
        f"--mutants-dir={layout.mutants}",
        f"--reports-dir={reports}",
        f"--run-id={RUN_ID}",
        *([f"--backend={backend}"] if backend is not None else []),
        "-q", "--no-header",
        *(f"--requirement={requirement}" for requirement in mutant.expects),
        # One expected requirement: its first failing test decides, the rest need not run.
        *(["--maxfail=1"] if len(mutant.expects) == 1 else []),
    ]  # fmt: skip
    started = time.monotonic()
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
        exit_status, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        exit_status, output = -1, f"no result within {timeout_s:g} s"
    duration = round(time.monotonic() - started, 2)
    results_path = reports / RUN_ID / "results.json"
    if not results_path.exists():
        return MutantOutcome(
            mutant.name, mutant.spec.description, mutant.expects, (), {}, False,
            exit_status, duration, str(results_path.parent),
            error=f"no results.json; the run said:\n{output[-3000:]}",
        )  # fmt: skip
    results = json.loads(results_path.read_text("utf-8"))
    verdicts = {r["id"]: r["verdict"] for r in results["requirements"]}
    failed = tuple(i for i, verdict in verdicts.items() if verdict == "fail")
    killed = set(mutant.expects) <= set(failed)
    return MutantOutcome(
        name=mutant.name,
        description=mutant.spec.description,
        expects=mutant.expects,
        failed=failed,
        verdicts={i: verdicts[i] for i in mutant.expects},
        killed=killed,
        exit_status=exit_status,
        duration_s=duration,
        report=str(results_path.parent),
        error=None if killed else output[-3000:],
    )


def kill_matrix(
    mutants: Sequence[Mutant], layout: Layout, jobs: int = 2, backend: str | None = None
) -> list[MutantOutcome]:
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda mutant: run_mutant(mutant, layout, backend=backend), mutants))


def write_kill_matrix(outcomes: Sequence[MutantOutcome], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "mutants": [asdict(outcome) for outcome in outcomes],
        "killed": sum(o.killed for o in outcomes),
        "survived": [o.name for o in outcomes if not o.killed],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", "utf-8")


def table(outcomes: Sequence[MutantOutcome]) -> str:
    lines = []
    for outcome in outcomes:
        state = "killed" if outcome.killed else "SURVIVED"
        verdicts = ", ".join(f"{i}={v}" for i, v in outcome.verdicts.items()) or "no results"
        lines.append(f"{state:<9} {outcome.name:<30} {verdicts} ({outcome.duration_s:.1f} s)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the project folder")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--backend", help="run the mutants on this backend (default: profile's)")
    args = parser.parse_args(argv)
    root: Path = args.root
    layout = Layout(
        suites=root / "suites",
        profile=root / "profiles" / "reference.toml",
        mutants=root / "mutants",
        reports=root / "reports" / "mutants",
    )
    mutants = [m for m in discover(layout.mutants) if not args.names or m.name in args.names]
    outcomes = kill_matrix(mutants, layout, args.jobs, args.backend)
    write_kill_matrix(outcomes, layout.reports / "kill-matrix.json")
    print(table(outcomes))
    print(f"kill matrix: {layout.reports / 'kill-matrix.json'}")
    return 0 if all(o.killed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
