"""Running the conformance suites the way a user does, from the project's own tests."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"
REFERENCE = ROOT / "profiles" / "reference.toml"
NOTES_EXAMPLE = ROOT / "profiles" / "examples" / "notes" / "profile.toml"
GUESTBOOK_EXAMPLE = ROOT / "profiles" / "examples" / "guestbook" / "profile.toml"
POSTBOX_EXAMPLE = ROOT / "profiles" / "examples" / "postbox" / "profile.toml"
RUN_TIMEOUT_S = 1200  # a guard against a hung run, not a measure: a loaded machine is slow


@dataclass(frozen=True)
class SuiteRun:
    exit_code: int
    output: str
    run_dir: Path

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "results.json").read_text("utf-8"))

    def verdicts(self) -> dict[str, str]:
        return {r["id"]: r["verdict"] for r in self.results["requirements"]}

    def covered(self) -> dict[str, str]:
        return {i: v for i, v in self.verdicts().items() if v != "not_covered"}


def _profile_picks_a_backend(args: tuple[str, ...]) -> bool:
    """Whether the profile in `args` names its backend (`auto` picks one)."""
    for arg in args:
        if arg.startswith("--profile="):
            path = Path(arg.removeprefix("--profile="))
            if path.is_file():
                return tomllib.loads(path.read_text("utf-8")).get("backend", "auto") != "auto"
    return False


def suites_command(*args: str) -> list[str]:
    """The suites as a user runs them; on the process backend unless `args` or the profile
    name one (the reference profile's `auto` would pick compose wherever an engine answers)."""
    named = any(a.startswith("--backend") for a in args) or _profile_picks_a_backend(args)
    backend = [] if named else ["--backend=process"]
    return [
        sys.executable, "-m", "pytest", "-c", str(SUITES / "pytest.ini"), str(SUITES),
        *backend, *args,
    ]  # fmt: skip


def run_suites(
    reports: Path, *args: str, run_id: str = "run", timeout_s: float = RUN_TIMEOUT_S
) -> SuiteRun:
    done = subprocess.run(
        suites_command(f"--reports-dir={reports}", f"--run-id={run_id}", *args),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return SuiteRun(done.returncode, done.stdout + done.stderr, reports / run_id)


def reference_variant(folder: Path, replacements: dict[str, str]) -> Path:
    """The reference profile with text replaced (each must occur), written into `folder`."""
    text = REFERENCE.read_text("utf-8").replace('root = "../stack"', f'root = "{ROOT / "stack"}"')
    for old, new in replacements.items():
        assert old in text, f"{old!r} is not in the reference profile"
        text = text.replace(old, new)
    path = folder / "variant.toml"
    path.write_text(text, "utf-8")
    return path


def plan_disagreements(run: SuiteRun, *plan_args: str, runtime: frozenset[str]) -> list[str]:
    """Where the run did not do what `stackproof plan` foretold: a test the plan skips that
    ran, or skipped for another reason; a test the plan runs that skipped, unless its skip
    is one only the running stack could show (`runtime`: node IDs)."""
    done = subprocess.run(
        [sys.executable, "-m", "stackproof.cli", "plan", "--json", *plan_args],
        capture_output=True, text=True, timeout=120, check=True, cwd=ROOT,
    )  # fmt: skip
    foretold = {t["nodeid"]: t for r in json.loads(done.stdout)["requirements"] for t in r["tests"]}
    seen = {t["nodeid"]: t for r in run.results["requirements"] for t in r["tests"]}
    found = [f"{n}: in the plan, not in the run" for n in foretold.keys() - seen.keys()]
    for nodeid, test in seen.items():
        plan, message = foretold.get(nodeid), test["message"] or ""
        if plan is None:
            found.append(f"{nodeid}: in the run, not in the plan")
        elif not plan["runs"] and (test["outcome"] != "skip" or plan["why"] not in message):
            found.append(f"{nodeid}: plan skips ({plan['why']}); run: {test['outcome']} {message}")
        elif plan["runs"] and test["outcome"] == "skip" and nodeid not in runtime:
            found.append(f"{nodeid}: plan runs it; run skipped it: {message}")
    return found
