"""Sessions: `nox -s conformance` proves a stack; `nox -s tests` proves stackproof itself."""

from __future__ import annotations

import json
from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
# uv where it is installed (`pip install nox[uv]`), else the standard library's venv.
nox.options.default_venv_backend = "uv|venv"
# A session's environment is kept between runs and reinstalled only when what it installs
# changed (see `install`): a second `nox -s conformance` starts its first test in seconds.
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

ROOT = Path(__file__).parent
PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
SUITES_INI = str(ROOT / "suites" / "pytest.ini")
STAMP = ".stackproof-installed"  # in the session's environment: what was installed there


def install(session: nox.Session, *groups: str) -> None:
    """The project itself (editable) plus the named dependency groups of pyproject.toml,
    unless the environment already holds exactly that."""
    requirements = [r for g in groups for r in nox.project.dependency_groups(PYPROJECT, g)]
    wanted = json.dumps(
        {
            "project": str(ROOT.resolve()),
            "dependencies": PYPROJECT["project"]["dependencies"],
            "requirements": requirements,
        },
        sort_keys=True,
    )
    location = getattr(session.virtualenv, "location", None)  # None: --no-venv
    stamp = Path(location) / STAMP if location else None
    if stamp is not None and stamp.is_file() and stamp.read_text("utf-8") == wanted:
        session.log(f"dependencies unchanged since the last install; {STAMP} in {location}")
        return
    session.install("-e", ".", *requirements)
    if stamp is not None:
        stamp.write_text(wanted, "utf-8")


@nox.session
def conformance(session: nox.Session) -> None:
    """Run the suites against a stack (posargs go to pytest: --profile=..., --backend=...)."""
    install(session, "servers", "stack", "containers", "examples")  # containers: compose
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
    install(session, "servers", "stack", "containers")
    session.run("python", "-m", "stackproof.bench", *session.posargs)


@nox.session(default=False)
def images(session: nox.Session) -> None:
    """Container images: `-- base` makes the base offline, `-- build` (the default) the stack's."""
    action = session.posargs[0] if session.posargs else "build"
    # The images pin what this environment has installed: the servers and the stack's
    # packages, as the tests' and the benches' environments do, so all find the same images.
    install(session, "containers", *(() if action == "base" else ("servers", "stack")))
    session.run("stackproof", "images", action, *session.posargs[1:])
