"""Good and broken releases of a service, in the form `deploy.py` installs.

A release is a folder with `release.json` (`{"service", "version"}`) and an executable
entrypoint; `<releases>/<service>/current` points at the running one (see
`stack/ops/opskit/releases.py`). New releases are copies of the current one with a new
version — and, for the broken kinds, a different entrypoint.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import stat
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "release.json"
CRASHING = """#!/bin/sh
# stackproof drill: a release that crashes at start.
echo "release {version}: cannot start (a broken release planted by a rollback drill)" >&2
exit 1
"""
UNREADY = """#!/bin/sh
# stackproof drill: a release that runs but never becomes ready.
cd "$(dirname "$0")/.." || exit 1
exec {command}
"""


@dataclass(frozen=True, slots=True)
class Releases:
    """The releases of one service on one stack, and a folder to build artifacts in."""

    root: Path  # <releases_dir>/<service>
    service: str
    entrypoint: str
    workshop: Path

    def pointed(self, link: str = "current") -> str | None:
        path = self.root / link
        return path.resolve().name if path.is_symlink() else None

    def installed(self) -> list[str]:
        folder = self.root / "releases"
        return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))

    def running(self, workdir: str | None) -> str | None:
        """The release a service whose main process works in `workdir` runs from, if any."""
        if workdir is None:
            return None
        cwd = Path(workdir)
        releases = (self.root / "releases").resolve()
        return cwd.name if cwd.parent == releases else None

    @staticmethod
    def new_version(prefix: str) -> str:
        return f"{prefix}-{secrets.token_hex(3)}"

    # --- artifacts ---

    def good(self, version: str) -> Path:
        current = self.root / "current"
        if not current.is_symlink():
            raise FileNotFoundError(f"{current}: the service has no current release to copy")
        target = self.workshop / f"{self.service}-{version}"
        self.workshop.mkdir(parents=True, exist_ok=True)
        shutil.copytree(current.resolve(), target, symlinks=True)
        manifest = target / MANIFEST
        facts = json.loads(manifest.read_text("utf-8"))
        facts["version"] = version
        manifest.write_text(json.dumps(facts, indent=2) + "\n", "utf-8")
        return target

    def _with_entrypoint(self, version: str, script: str) -> Path:
        target = self.good(version)
        entry = target / self.entrypoint
        entry.write_text(script, "utf-8")
        entry.chmod(0o755)
        return target

    def crashing(self, version: str) -> Path:
        return self._with_entrypoint(version, CRASHING.format(version=version))

    def unready(self, version: str, port: int, probe_log: Path) -> Path:
        """Listens on `port` and answers 503 to everything, logging each request."""
        command = [
            sys.executable,
            "-m",
            "stackproof.drills.unready",
            "--port",
            str(port),
            "--log",
            str(probe_log),
        ]
        return self._with_entrypoint(version, UNREADY.format(command=shlex.join(command)))

    def not_executable(self, version: str) -> Path:
        target = self.good(version)
        entry = target / self.entrypoint
        entry.chmod(stat.S_IMODE(entry.stat().st_mode) & ~0o111)
        return target

    def of_another_service(self, version: str) -> Path:
        target = self.good(version)
        manifest = target / MANIFEST
        facts = json.loads(manifest.read_text("utf-8"))
        facts["service"] = f"not-{self.service}"
        manifest.write_text(json.dumps(facts) + "\n", "utf-8")
        return target

    def corrupt_archive(self, version: str) -> Path:
        target = self.workshop / f"{self.service}-{version}.tar.gz"
        self.workshop.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"\x1f\x8b" + os.urandom(512))  # a gzip magic, then noise
        return target

    def missing(self, version: str) -> Path:
        return self.workshop / f"{self.service}-{version}-never-built"

    def archived(self, folder: Path) -> Path:
        archive = folder.with_name(folder.name + ".tar.gz")
        with tarfile.open(archive, "w:gz") as packed:
            packed.add(folder, arcname=folder.name)
        shutil.rmtree(folder)
        return archive
