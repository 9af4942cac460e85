"""Wheels fetched on the host for an image, cached under a key made of what they come from.

An image installs its Python packages with `pip install --no-index` from the wheels in its
build context, so a build needs no package index and no CA bundle inside. The wheels come
from the host's pip with the host's configuration: `pip download --only-binary=:all:` for
the image's Python (the host's may be another: no building for it here). pip evaluates
markers for the host's Python, so what only the image's needs is added after, from the
wheels' own metadata. A wheel set is cached by its requirements (pinned to what this
environment has installed, so the images run the versions the process backend runs),
the image's Python, the platform and pip's version: an unchanged rebuild fetches nothing.
"""

from __future__ import annotations

import email.parser
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement

from stackproof.cache import cache_dir
from stackproof.errors import StackproofError

PIP_TIMEOUT_S = 900.0
MISSING_ROUNDS = 5  # dependencies of dependencies only the image's Python needs
REQUIREMENTS_FILE = "requirements.txt"
COMPLETE_MARK = ".complete"


class WheelError(StackproofError):
    """The wheels of an image could not be made."""


def _pip_version() -> str:
    try:
        return importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        raise WheelError(
            f"pip is not installed beside {sys.executable} (a uv-made environment has none): "
            "install the `containers` dependency group, which brings it"
        ) from None


def pin_installed(requirement: str) -> str:
    """`name==version` of what this environment has, if that satisfies `requirement`."""
    parsed = Requirement(requirement)
    try:
        version = importlib.metadata.version(parsed.name)
    except importlib.metadata.PackageNotFoundError:
        return requirement
    if not parsed.specifier.contains(version, prereleases=True):
        return requirement
    extras = f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else ""
    return f"{parsed.name}{extras}=={version}"


# -- what pyproject.toml asks for ------------------------------------------------------------


def _group(groups: dict[str, list[object]], name: str, seen: tuple[str, ...]) -> list[str]:
    if name not in groups:
        raise WheelError(f"pyproject.toml has no dependency group {name!r}")
    if name in seen:
        raise WheelError(f"dependency group {name!r} includes itself")
    found: list[str] = []
    for entry in groups[name]:
        if isinstance(entry, str):
            found.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("include-group"), str):
            found += _group(groups, entry["include-group"], (*seen, name))
    return found


def _read(pyproject: Path) -> dict[str, object]:
    try:
        return tomllib.loads(pyproject.read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise WheelError(f"{pyproject}: cannot read the project's requirements: {error}") from None


def group_requirements(pyproject: Path, group: str) -> list[str]:
    """The requirements of a dependency group (PEP 735), included groups resolved."""
    groups = _read(pyproject).get("dependency-groups")
    return _group(groups if isinstance(groups, dict) else {}, group, ())


def named_requirements(pyproject: Path, names: Iterable[str]) -> list[str]:
    """The project's own requirement for each named distribution (from any list of it)."""
    data = _read(pyproject)
    project = data.get("project")
    everything: list[str] = []
    if isinstance(project, dict):
        everything += project.get("dependencies", [])
    groups = data.get("dependency-groups")
    if isinstance(groups, dict):
        for group in groups:
            everything += _group(groups, group, ())
    found = []
    for name in names:
        matches = [r for r in everything if _name(r) == _canonical(name)]
        if not matches:
            raise WheelError(f"{pyproject}: no requirement names {name!r}")
        found.append(matches[0])
    return found


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _name(requirement: str) -> str | None:
    try:
        return _canonical(Requirement(requirement).name)
    except InvalidRequirement:
        return None


# -- a set of wheels -------------------------------------------------------------------------


def target_environment(python_version: str) -> dict[str, str]:
    """Marker values of the image's Python (this host's platform, the image's version)."""
    environment = {name: str(value) for name, value in default_environment().items()}
    environment["python_full_version"] = python_version
    environment["python_version"] = ".".join(python_version.split(".")[:2])
    environment["implementation_version"] = python_version
    return environment


@dataclass(frozen=True, slots=True)
class WheelSet:
    """The wheels one image installs: its requirements, with or without their dependencies."""

    requirements: tuple[str, ...]
    python_version: str  # the image's, in full: markers may compare the patch level
    with_dependencies: bool = True

    def __post_init__(self) -> None:
        for requirement in self.requirements:
            Requirement(requirement)  # InvalidRequirement names the bad one
        if len(self.python_version.split(".")) != 3:
            raise WheelError(f"Python version {self.python_version!r}: give it in full, 3.11.2")

    @property
    def key(self) -> str:
        facts = {
            "requirements": sorted(self.requirements),
            "python": self.python_version,
            "dependencies": self.with_dependencies,
            "platform": sysconfig.get_platform(),
            "pip": _pip_version(),
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:24]


def wheel_cache() -> Path:
    return cache_dir() / "wheels"


def wheel_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.whl"))


def _wheel_metadata(path: Path) -> tuple[str, list[str]]:
    """A wheel's distribution name and its Requires-Dist lines."""
    with zipfile.ZipFile(path) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.BytesParser().parsebytes(wheel.read(name), headersonly=True)
    return _canonical(metadata["Name"]), metadata.get_all("Requires-Dist") or []


def missing_requirements(folder: Path, roots: Iterable[str], python_version: str) -> list[str]:
    """What the image's Python needs besides the wheels in `folder`.

    The host's pip evaluates markers for the host's Python, not the image's; a dependency
    only the image's version needs (`python_full_version < "3.11.3"`) is found here.
    """
    environment = target_environment(python_version)
    available = dict(_wheel_metadata(path) for path in wheel_files(folder))
    missing: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [(Requirement(root), "") for root in roots]
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker and not requirement.marker.evaluate({**environment, "extra": extra}):
            continue
        name = _canonical(requirement.name)
        extras = frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        if name not in available:
            missing[name] = f"{requirement.name}{requirement.specifier}"
            continue
        for line in available[name]:
            dependency = Requirement(line)
            pending += [(dependency, e) for e in (extras or {""})]
    return sorted(missing.values())


def _pip_download(
    requirements: Iterable[str], folder: Path, python_version: str, log_path: Path, *, deps: bool
) -> None:
    """The host's pip, binary wheels for the image's Python (its config and index as is)."""
    argv = [
        *(sys.executable, "-m", "pip", "download", "--dest", str(folder), "--no-input"),
        *("--disable-pip-version-check", "--only-binary=:all:"),
        f"--python-version={python_version}",
        *([] if deps else ["--no-deps"]),
        *requirements,
    ]
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(argv)}\n".encode())
        log.flush()
        try:
            done = subprocess.run(
                argv, stdout=log, stderr=subprocess.STDOUT, timeout=PIP_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise WheelError(f"pip did not finish within {PIP_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        error = WheelError(
            f"pip could not fetch binary wheels of {', '.join(requirements)} for Python "
            f"{python_version} (exit {done.returncode})"
        )
        tail = log_path.read_text("utf-8", errors="replace").splitlines()[-15:]
        error.add_note(f"pip's log ({log_path}), its end:\n" + "\n".join(tail))
        raise error


def is_cached(wheel_set: WheelSet) -> bool:
    return (wheel_cache() / wheel_set.key / COMPLETE_MARK).exists()


def ensure_wheels(wheel_set: WheelSet, log_path: Path) -> Path:
    """The folder of the set's wheels and its requirements.txt, made once per key.

    pip comes along: the image runs it from its wheel to install the rest.
    """
    folder = wheel_cache() / wheel_set.key
    if (folder / COMPLETE_MARK).exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.partial-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_bytes(b"")
    try:
        wanted = [*wheel_set.requirements, f"pip=={_pip_version()}"]
        version = wheel_set.python_version
        _pip_download(wanted, staging, version, log_path, deps=wheel_set.with_dependencies)
        for _ in range(MISSING_ROUNDS if wheel_set.with_dependencies else 0):
            missing = missing_requirements(staging, wheel_set.requirements, version)
            if not missing:
                break
            _pip_download(missing, staging, version, log_path, deps=False)
        (staging / REQUIREMENTS_FILE).write_text("\n".join(wheel_set.requirements) + "\n")
        (staging / COMPLETE_MARK).touch()
        staging.rename(folder)
    except OSError:
        if not (folder / COMPLETE_MARK).exists():  # not just another build being first
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
