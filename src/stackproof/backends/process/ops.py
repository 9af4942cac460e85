"""The stack's ops folder: where its operations scripts find their config and service control.

For each stack the process backend makes `<stack temp>/ops/` (mode 0700) holding

- `ops.toml`: the profile's `ops.config` template rendered with the run's facts (mode 0600:
  it carries database passwords), handed to scripts as `OPS_CONFIG`;
- `svcctl`: the service-control command for scripts (`svcctl restart bot`), a shim around
  `python -m stackproof.svcctl` with this stack's socket filled in;
- the socket the stack serves control requests on (`control.py`) lives in a short folder
  of its own (`/tmp/stackproof-ctl-*`, 0700): Unix socket paths are limited to 108 bytes;
- the backups and releases folders the profile names (`ops.backup_dir`, `ops.releases_dir`).

Templates there see what every service sees, plus `link.<service>.*` for *every* service
(reached directly: operators do not go through the fault proxies), `ops.*` and
`policy.deploy.*` / `policy.backup.*`.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from stackproof.backends.base import OpsAccess
from stackproof.backends.process.service import service_placeholders
from stackproof.errors import ProfileError
from stackproof.profile import Profile
from stackproof.profile.template import TemplateError, render

FOLDER = "ops"
CONFIG_FILE = "ops.toml"
SOCKET = "control.sock"
SVCCTL = "svcctl"
OPERATIONS = ("deploy", "backup", "restore", "retention")
EVENTS = "events"


@dataclass(frozen=True, slots=True)
class OpsFolder:
    path: Path
    backup_dir: Path
    releases_dir: Path
    socket: Path

    @classmethod
    def plan(cls, temp: Path, profile: Profile, socket_dir: Path | None = None) -> OpsFolder:
        folder = temp / FOLDER
        settings = profile.ops
        backups = settings.backup_dir if settings else "backups"
        releases = settings.releases_dir if settings else "releases"
        socket = (socket_dir or folder) / SOCKET
        return cls(folder, folder / backups, folder / releases, socket)

    @property
    def config(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def svcctl(self) -> Path:
        return self.path / SVCCTL

    def placeholders(self) -> dict[str, str]:
        """The `ops` group every template of the stack can use."""
        return {
            "dir": str(self.path),
            "config": str(self.config),
            "control": str(self.svcctl),
            "backup_dir": str(self.backup_dir),
            "releases_dir": str(self.releases_dir),
        }


def policy_placeholders(profile: Profile) -> dict[str, dict[str, str]]:
    policy = profile.policy
    return {
        "deploy": {k: str(v) for k, v in policy.deploy.model_dump().items()},
        "backup": {k: str(v) for k, v in policy.backup.model_dump().items()},
    }


def ops_placeholders(
    *,
    profile: Profile,
    folder: OpsFolder,
    logs_dir: Path,
    root: Path,
    shared: Mapping[str, Any],
    links: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    return {
        **service_placeholders(
            name="ops",
            ports={},
            state_dir=folder.path,
            logs_dir=logs_dir,
            root=root,
            shared=shared,
            links=links,
        ),
        "policy": policy_placeholders(profile),
    }


def _render(text: str, context: Mapping[str, Any], key: str) -> str:
    try:
        return render(text, context)
    except TemplateError as error:
        raise ProfileError(f"ops.{key}: {error}") from None


def check_ops_templates(profile: Profile, root: Path, context: Mapping[str, Any]) -> None:
    """Render every ops template against `context`, so a typo stops the run before it starts."""
    settings = profile.ops
    if settings is None:
        return
    for operation in OPERATIONS:
        for index, part in enumerate(getattr(settings, operation) or []):
            _render(part, context, f"{operation}[{index}]")
    for key, value in settings.env.items():
        _render(value, context, f"env.{key}")
    if settings.config is not None:
        template = root / settings.config
        if not template.is_file():
            raise ProfileError(f"ops.config: {template} does not exist")
        _render(template.read_text("utf-8"), context, "config")


def _svcctl_shim(socket: Path) -> str:
    command = [sys.executable, "-m", "stackproof.svcctl", "--socket", str(socket)]
    return (
        "#!/bin/sh\n"
        "# Service control for this stack's operations scripts (stackproof process backend).\n"
        f'exec {shlex.join(command)} "$@"\n'
    )


def prepare_ops_folder(profile: Profile, folder: OpsFolder, context: Mapping[str, Any]) -> None:
    """Create the folder, the service-control shim and the rendered config."""
    folder.path.mkdir(mode=0o700)
    folder.svcctl.write_text(_svcctl_shim(folder.socket), "utf-8")
    folder.svcctl.chmod(0o700)
    folder.releases_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder.path / EVENTS).mkdir(mode=0o700)  # the scripts' event logs, read by the drills
    settings = profile.ops
    if settings is None or settings.config is None:
        return
    root = profile.stack.root
    assert root is not None  # ProcessBackend.check demands it
    text = _render((root / settings.config).read_text("utf-8"), context, "config")
    descriptor = os.open(folder.config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as config:
        config.write(text)


def ops_access(
    profile: Profile,
    folder: OpsFolder,
    context: Mapping[str, Any],
    base_env: Mapping[str, str],
) -> OpsAccess:
    settings = profile.ops
    root = profile.stack.root
    assert root is not None  # ProcessBackend.check demands it
    scripts: dict[str, tuple[str, ...]] = {}
    env = dict(base_env)
    if settings is not None:
        for operation in OPERATIONS:
            argv = getattr(settings, operation)
            if argv:
                scripts[operation] = tuple(
                    _render(part, context, f"{operation}[{i}]") for i, part in enumerate(argv)
                )
        env.update({k: _render(v, context, f"env.{k}") for k, v in settings.env.items()})
        if settings.config is not None:
            env["OPS_CONFIG"] = str(folder.config)
    # Paths on the stack's side: for local processes, the very paths of this machine.
    return OpsAccess(
        scripts=scripts,
        env=env,
        cwd=PurePosixPath(root),
        folder=PurePosixPath(folder.path),
        config=(PurePosixPath(folder.config) if settings is not None and settings.config else None),
        backup_dir=PurePosixPath(folder.backup_dir),
        releases_dir=PurePosixPath(folder.releases_dir),
        control=PurePosixPath(folder.svcctl),
        database=profile.backup_database(),
        deploy_services=tuple(settings.deploy_services) if settings else (),
        release_entrypoint=settings.release_entrypoint if settings else "bin/start",
    )
