"""A pristine initdb kept in a cache, copied for each run instead of running initdb again.

initdb costs most of a cold start (about a second on two cores); a copy of its output costs a
tenth of that. The copy is what initdb would have written, except for the superuser password,
which each run replaces at once (`ALTER ROLE`) with a password of its own. The cache lives in
`stackproof.cache.cache_dir()` and is safe to delete.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from stackproof.cache import cache_dir
from stackproof.errors import ServiceStartError
from stackproof.procs import UNPRIVILEGED_UID, is_root

PASSWORD_FILE = "superuser.pw"  # noqa: S105 - the name of the file, not a password
DATA = "data"


def cache_root() -> Path:
    return cache_dir() / "initdb"


@dataclass(frozen=True, slots=True)
class Template:
    folder: Path

    @property
    def data(self) -> Path:
        return self.folder / DATA

    @property
    def password(self) -> str:
        return (self.folder / PASSWORD_FILE).read_text("utf-8").strip()

    def copy_to(self, target: Path) -> None:
        """`cp -a` keeps the owner (the unprivileged user) and modes PostgreSQL insists on."""
        done = subprocess.run(
            ["cp", "-a", str(self.data), str(target)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ServiceStartError(f"copying the initdb template failed: {done.stderr.strip()}")


def template_key(postgres: Path, initdb_args: Sequence[str]) -> str:
    identity = postgres.stat()
    material = "\n".join(
        [str(postgres.resolve()), str(identity.st_size), str(int(identity.st_mtime)), *initdb_args]
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def cached_template(key: str) -> Template | None:
    folder = cache_root() / key
    return Template(folder) if (folder / ".complete").exists() else None


# Runs initdb into (data folder, password file); returns once it is done.
InitDb = Callable[[Path, Path], None]


def build_template(key: str, run_initdb: InitDb) -> Template:
    """Run initdb once into the cache (atomically: other runs never see half a template)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o711)
    staging = root / f".{key}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    password = secrets.token_urlsafe(18)
    password_file = staging / PASSWORD_FILE
    password_file.write_text(password + "\n", "utf-8")
    password_file.chmod(0o600)
    if is_root():
        os.chown(staging, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
        os.chown(password_file, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
    run_initdb(staging / DATA, password_file)
    (staging / ".complete").touch()
    final = root / key
    try:
        staging.rename(final)
    except OSError:  # another run built the same template first; use theirs
        shutil.rmtree(staging, ignore_errors=True)
    return Template(final)
