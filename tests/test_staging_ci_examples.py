"""The CI examples in examples/ci/ are ready to copy: each parses, runs nightly and by hand,
keeps junit.xml and the report, and every command it runs exists in this version (the nox
sessions of noxfile.py, the suites' options, stackproof's subcommands)."""

from __future__ import annotations

import ast
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import ROOT, SUITES

EXAMPLES = ROOT / "examples" / "ci"
GITHUB = EXAMPLES / "github-actions.yml"
GITLAB = EXAMPLES / "gitlab-ci.yml"


@cache
def nox_sessions() -> frozenset[str]:
    tree = ast.parse((ROOT / "noxfile.py").read_text("utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(target) == "nox.session":
                    names.add(node.name)
    return frozenset(names)


@cache
def suite_options() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(SUITES / "pytest.ini"), "--help"],
        capture_output=True, text=True, timeout=120, check=True, cwd=ROOT,
    )  # fmt: skip
    return done.stdout


@cache
def stackproof_commands() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "stackproof.cli", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def problems_of(command: str) -> list[str]:
    """What in one shell command does not exist in this version."""
    words = shlex.split(command)
    found: list[str] = []
    if words[:1] == ["nox"]:
        head, _, passed = " ".join(words[1:]).partition(" -- ")
        parts = shlex.split(head)
        sessions = [parts[i + 1] for i, w in enumerate(parts) if w in ("-s", "--session")]
        found += [
            f"nox session {s!r} is not in noxfile.py" for s in sessions if s not in nox_sessions()
        ]
        for option in shlex.split(passed):
            name = option.split("=", 1)[0]
            if (
                name.startswith("--")
                and f"{name}=" not in suite_options()
                and f"{name} " not in suite_options()
            ):
                found.append(f"{name} is not an option of the suites")
    elif words[:1] == ["stackproof"] and (len(words) < 2 or words[1] not in stackproof_commands()):
        found.append(f"stackproof has no subcommand {words[1:2]}")
    return found


def commands(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip()]


def github_steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in document["jobs"].values() for step in job["steps"]]


def test_the_github_workflow_runs_nightly_and_by_hand_and_keeps_the_report() -> None:
    document = yaml.safe_load(GITHUB.read_text("utf-8"))
    triggers = document.get("on", document.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["schedule"][0]["cron"]
    assert "workflow_dispatch" in triggers
    steps = github_steps(document)
    runs = [step["run"] for step in steps if "run" in step]
    assert any(r.startswith("nox -s conformance") for r in runs)
    uploads = [step for step in steps if step.get("uses", "").startswith("actions/upload-artifact")]
    assert len(uploads) == 1
    assert uploads[0]["if"] == "always()"  # a failed run's report is the one to read
    paths = uploads[0]["with"]["path"]
    assert "junit.xml" in paths
    assert "report.html" in paths
    # A step that fails fails the job: no `continue-on-error` hides the exit status.
    assert not any(step.get("continue-on-error") for step in steps)


def test_the_gitlab_job_runs_on_schedule_and_by_hand_and_keeps_the_report() -> None:
    document = yaml.safe_load(GITLAB.read_text("utf-8"))
    job = document["stackproof-conformance"]
    sources = " ".join(rule["if"] for rule in job["rules"])
    assert '"schedule"' in sources
    assert '"web"' in sources
    assert any(line.startswith("nox -s conformance") for line in job["script"])
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"].endswith("junit.xml")
    assert any(p.endswith("report.html") for p in job["artifacts"]["paths"])
    assert not job.get("allow_failure", False)


@pytest.mark.parametrize("example", [GITHUB, GITLAB], ids=lambda p: p.name)
def test_every_command_of_the_example_exists_in_this_version(example: Path) -> None:
    document = yaml.safe_load(example.read_text("utf-8"))
    if example == GITHUB:
        lines = [step["run"] for step in github_steps(document) if "run" in step]
    else:
        lines = [
            line
            for job in document.values()
            if isinstance(job, dict)
            for line in job.get("script", [])
        ]
    found = [p for line in commands(lines) for p in problems_of(line)]
    assert found == []


def test_the_checker_notices_what_does_not_exist() -> None:
    assert problems_of("nox -s nightly") == ["nox session 'nightly' is not in noxfile.py"]
    assert problems_of("nox -s conformance -- --no-such-option=1") == [
        "--no-such-option is not an option of the suites"
    ]
    assert problems_of("stackproof frobnicate") == ["stackproof has no subcommand ['frobnicate']"]
    assert problems_of("nox -s staging -- --profile=staging.toml --allow-destructive") == []
