"""Sessions: `nox -s conformance` proves a stack; `nox -s tests` proves stackproof itself."""

from __future__ import annotations

from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
SUITES_INI = str(ROOT / "suites" / "pytest.ini")


def install(session: nox.Session, *groups: str) -> None:
    """The project itself plus the named dependency groups of pyproject.toml."""
    requirements = [r for g in groups for r in nox.project.dependency_groups(PYPROJECT, g)]
    session.install("-e", ".", *requirements)


@nox.session
def conformance(session: nox.Session) -> None:
    """Run the suites against a stack (posargs go to pytest: --profile=..., --backend=...)."""
    install(session, "servers", "stack")
    # `-c` pins the suites' config even when option values are paths elsewhere.
    session.run("pytest", "-c", SUITES_INI, "suites", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The project's own tests: harness units, the reference stack, the mutant kill matrix."""
    install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session(default=False)
def staging(session: nox.Session) -> None:
    """The pre-release gate against a staging host (posargs: --profile=staging.toml ...)."""
    install(session, "staging")
    # Destructive drills run only with environment = "staging" and --allow-destructive.
    session.run("pytest", "-c", SUITES_INI, "suites", "--backend=remote", *session.posargs)


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """ruff: style and common mistakes."""
    install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(default=False)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the harness, the reference stack and this file."""
    install(session, "typecheck")
    session.run("mypy", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Measure the figures the issues name; writes reports/bench/ (never pass/fail on time)."""
    install(session, "servers", "stack")
    session.run("python", "-m", "stackproof.bench", *session.posargs)
