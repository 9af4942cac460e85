"""Good and broken releases of a service, in the form `deploy.py` installs.

A release is a folder with `release.json` (`{"service", "version"}`) and an executable
entrypoint; `<releases>/<service>/current` points at the running one (see
`stack/ops/opskit/releases.py`). New releases are copies of the current one with a new
version — and, for the broken kinds, a different entrypoint.

The releases live on the stack's side and are read through the stack's `FileAccess`; the
artifacts are built here, in the workshop, and shipped to where the stack's deploy script
can read them: as they are when the stack's files are on this machine (local processes),
else uploaded into a folder the run made on the stack's side (`drop`, a staging host's
temporary folder, removed with `close`).
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
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from stackproof.backends.base import FileAccess
from stackproof.drills import unready as unready_module

MANIFEST = "release.json"
# What an unready release runs: the module file itself, shipped inside the release and run by
# the stack's own interpreter (stackproof need not be installed where the stack runs).
UNREADY_FILE = "stackproof_unready.py"
CRASHING = """#!/bin/sh
# stackproof drill: a release that crashes at start.
echo "release {version}: cannot start (a broken release planted by a rollback drill)" >&2
exit 1
"""
UNREADY = """#!/bin/sh
# stackproof drill: a release that runs but never becomes ready.
cd "$(dirname "$0")/{up}" || exit 1
exec {command}
"""


@dataclass(frozen=True)
class Releases:
    """The releases of one service on one stack, and a folder to build artifacts in."""

    files: FileAccess
    root: PurePosixPath  # <releases_dir>/<service>, on the stack's side
    service: str
    entrypoint: str
    workshop: Path  # here
    python: str = sys.executable  # the interpreter an unready release runs with, there
    drop: PurePosixPath | None = None  # where artifacts go there; None: as built here
    _copies: dict[str, Path] = field(default_factory=dict, repr=False, compare=False)

    def pointed(self, link: str = "current") -> str | None:
        target = self.files.readlink(self.root / link)
        return PurePosixPath(target).name if target else None

    def installed(self) -> list[str]:
        return [n for n in self.files.list(self.root / "releases") if not n.startswith(".")]

    def running(self, workdir: str | None) -> str | None:
        """The release a service whose main process works in `workdir` runs from, if any."""
        if workdir is None:
            return None
        cwd = PurePosixPath(workdir)
        return cwd.name if cwd.parent == self._releases_folder() else None

    def through_link(self, workdir: str) -> bool:
        """`workdir` names a folder of the releases through a link (`current/`), as a
        service's configured folder does: not the process's own, resolved one."""
        path = PurePosixPath(workdir)
        return path.is_relative_to(self.root) and not path.is_relative_to(self.root / "releases")

    def _releases_folder(self) -> PurePosixPath:
        """Without links (a process's working folder has none): resolved where it is here."""
        folder = self.root / "releases"
        local = self.files.local_path(folder)
        return folder if local is None else PurePosixPath(local.resolve())

    @staticmethod
    def new_version(prefix: str) -> str:
        return f"{prefix}-{secrets.token_hex(3)}"

    # --- on the stack's side ---

    def ship(self, artifact: Path) -> PurePosixPath:
        """Where the deploy script finds `artifact` (uploaded first, unless it is on the
        stack's side already; a missing one stays missing)."""
        if self.drop is None:
            return PurePosixPath(artifact)
        target = self.drop / artifact.name
        if artifact.exists() or artifact.is_symlink():
            self.files.upload(artifact, target)
        return target

    def scratch(self, name: str) -> PurePosixPath:
        """An empty file on the stack's side that a planted release may append to (as the
        service's user: writable by others, readable by the run only)."""
        path = (self.drop if self.drop is not None else PurePosixPath(self.workshop)) / name
        if self.drop is None:
            self.workshop.mkdir(parents=True, exist_ok=True)
        self.files.write_bytes(path, b"", 0o622)
        self.files.chmod(path, 0o622)  # a umask does not narrow it
        return path

    def close(self) -> None:
        if self.drop is not None:
            self.files.remove_tree(self.drop)

    # --- artifacts ---

    def _current_copy(self) -> Path:
        """The running release, copied here once per version (a host's over SFTP)."""
        link = self.files.readlink(self.root / "current")
        if link is None:
            raise FileNotFoundError(
                f"{self.root / 'current'}: the service has no current release to copy"
            )
        source = self.root / link  # an absolute link target replaces the root
        version = source.name
        if version not in self._copies:
            self.workshop.mkdir(parents=True, exist_ok=True)
            copy = self.workshop / f".current-{version}-{secrets.token_hex(3)}"
            self.files.download(source, copy)
            self._copies[version] = copy
        return self._copies[version]

    def good(self, version: str) -> Path:
        target = self.workshop / f"{self.service}-{version}"
        shutil.copytree(self._current_copy(), target, symlinks=True)
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

    def unready(self, version: str, port: int, probe_log: PurePosixPath) -> Path:
        """Listens on `port` and answers 503 to everything, logging each request to
        `probe_log` (on the stack's side, see `scratch`)."""
        entry = PurePosixPath(self.entrypoint)
        module = entry.parent / UNREADY_FILE
        command = [self.python, str(module), "--port", str(port), "--log", str(probe_log)]
        up = "/".join([".."] * len(entry.parent.parts)) or "."
        target = self._with_entrypoint(version, UNREADY.format(up=up, command=shlex.join(command)))
        shutil.copyfile(Path(unready_module.__file__), target / module)
        return target

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
