"""`[remote]`: a stack stackproof did not start — the host it runs on, how each service runs
there, where its secrets come from, and the host's hardening policy (R-HOST-*).

```toml
[remote]
ssh = "deploy@staging.example.org"      # the SSH login (key file or agent; never a password)
port = 22
identity_file = "~/.ssh/staging_deploy"  # leave out to use the SSH agent
known_hosts = "~/.ssh/known_hosts"       # checked, always: an unknown key is an error
connect = { https = "127.0.0.1:8443" }   # connect here, send the public host name (--resolve)

[remote.services.bot]                    # one of systemd, container, process
systemd = "refstack-bot.service"
control = true                           # the suites may stop/start/restart it
env_file = "/opt/refstack/env/bot.env"   # where its environment (DSNs) is configured

[remote.secrets]                         # never in the profile text: an env var or a file
auth_api_key = { env = "STAGING_AUTH_API_KEY" }
```

Relative paths resolve against the profile file's folder; `~` is the user's home.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SSH_LOGIN = re.compile(r"^(?P<user>[a-z_][a-z0-9_.-]*)@(?P<host>[A-Za-z0-9.:_\[\]-]+)$")
ADDRESS = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9._-]+):(?P<port>[0-9]{1,5})$")
UNIT = re.compile(r"^[A-Za-z0-9@:._-]+$")
CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretSource(_Strict):
    """Where one secret of a running stack is read from: an environment variable of the
    harness or a file on this machine (its content, trailing newline removed)."""

    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    file: Path | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.env is None) == (self.file is None):
            raise ValueError("name exactly one of `env` (a variable) or `file` (a path)")
        return self

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"file {self.file}"


Runtime = Literal["systemd", "container", "process"]


class ServiceRuntime(_Strict):
    """How one service runs on the host: a systemd unit, a Docker container on the host, or a
    plain process (found by `pgrep -f` on `process`, its log in `log_file`)."""

    systemd: str | None = Field(default=None, pattern=UNIT.pattern)
    container: str | None = Field(default=None, pattern=CONTAINER.pattern)
    process: str | None = Field(default=None, min_length=3)
    control: bool = Field(
        default=False, description="whether the suites may stop, start and restart it"
    )
    env_file: str | None = Field(
        default=None, description="the file its environment (DSNs) is configured in, on the host"
    )
    log_file: str | None = Field(default=None, description="its log, for a plain process")
    admin_secret: str | None = Field(
        default=None,
        description="a database's administrator DSN as the host reaches it: one of `secrets`",
    )
    listen: str | None = Field(
        default=None,
        pattern=r"^[^\s:/]+:[0-9]{1,5}$",
        description=(
            "where its HTTP interface listens as the host reaches it (`127.0.0.1:8002`): the "
            "harness reaches it through a forward of the SSH connection (the drills' canary "
            "and readiness), where `services.<name>.remote.url` gives no direct URL"
        ),
    )
    wipe: list[str] | None = Field(
        default=None,
        min_length=1,
        description=(
            "the host's own command (argv, run as the SSH login) that wipes the service's "
            "persistent state once it is killed, as a lost disk would: what the restore "
            "drills (R-BAK-3..5) destroy; needs `control`"
        ),
    )

    @model_validator(mode="after")
    def _one_runtime(self) -> Self:
        named = [r for r in ("systemd", "container", "process") if getattr(self, r)]
        if len(named) != 1:
            raise ValueError(
                "name exactly one of `systemd` (a unit), `container` (a Docker container on "
                f"the host) or `process` (a pgrep pattern); got {named or 'none'}"
            )
        if self.wipe is not None and not self.control:
            raise ValueError("`wipe` destroys the service's state: it needs `control = true`")
        for key in ("env_file", "log_file"):
            value = getattr(self, key)
            if value is not None and not value.startswith("/"):
                raise ValueError(f"{key} must be an absolute path on the host, got {value!r}")
        return self

    @property
    def runtime(self) -> Runtime:
        if self.systemd:
            return "systemd"
        return "container" if self.container else "process"

    @property
    def target(self) -> str:
        found = self.systemd or self.container or self.process
        assert found is not None  # _one_runtime
        return found


class Connect(_Strict):
    """Where to connect while sending the public host name (SNI, Host), as curl's
    `--resolve` does: `host:port` each."""

    https: str | None = Field(default=None, pattern=ADDRESS.pattern)
    http: str | None = Field(default=None, pattern=ADDRESS.pattern)


class Fail2banPolicy(_Strict):
    jail: str = "sshd"
    maxretry: int = Field(default=5, ge=1)
    findtime_s: int = Field(default=600, ge=1)
    bantime_s: int = Field(default=3600, ge=1)


class HostPolicy(_Strict):
    """R-HOST-*: the catalog's values, spelt out; a profile may tighten them."""

    open_ports: list[int] = Field(default_factory=lambda: [22, 80, 443])
    fail2ban: Fail2banPolicy = Fail2banPolicy()
    postgres_min_version: int = Field(default=17, ge=9)
    log_max_size: str = Field(
        default="10m", pattern=r"^\d+[kmg]?$", description="Docker's notation: 10m = 10 MiB"
    )
    log_max_files: int = Field(default=3, ge=1)
    restart_policy: Literal["unless-stopped", "always"] = "unless-stopped"

    @field_validator("open_ports")
    @classmethod
    def _ports(cls, ports: list[int]) -> list[int]:
        bad = [p for p in ports if not 0 < p < 65536]
        if bad:
            raise ValueError(f"not TCP ports: {bad}")
        return sorted(set(ports))


class OutsideProbe(_Strict):
    """Where R-HOST-1's probe connects from: a container on a Docker network beside the host
    (one the run made), aiming at the host's address on it — or, with no network, this
    machine, aiming at `address` (a real host's public address)."""

    address: str = Field(min_length=1)
    docker_network: str | None = Field(default=None, pattern=CONTAINER.pattern)
    image: str | None = Field(default=None, description="the probe container's image")

    @model_validator(mode="after")
    def _image_for_network(self) -> Self:
        if self.docker_network is not None and self.image is None:
            raise ValueError("a probe on a Docker network needs `image` (with python3 in it)")
        return self


def _host_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"must be an absolute path on the host, got {value!r}")
    return value.rstrip("/") or "/"


class RemoteOps(_Strict):
    """Where the stack's operations scripts (`[ops]`) live and work on the host: they run
    there over SSH, as cron or CI would run them. `{{ python }}` in `[ops]` means `python`."""

    cwd: str = Field(description="the folder the scripts run from (the stack's root)")
    python: str = "python3"
    folder: str = Field(description="the ops folder; scripts' events land in <folder>/events")
    config: str | None = Field(default=None, description="handed to scripts as OPS_CONFIG")
    backup_dir: str
    releases_dir: str
    control: str = Field(description="the service-control command scripts are given")
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("cwd", "folder", "config", "backup_dir", "releases_dir", "control")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        return None if value is None else _host_path(value)


class RemoteSettings(_Strict):
    ssh: str | None = Field(
        default=None, description="user@host to reach the host with SSH; None: URLs only"
    )
    port: int = Field(default=22, gt=0, lt=65536)
    identity_file: Path | None = Field(default=None, description="a private key; else the agent")
    known_hosts: Path = Field(default=Path("~/.ssh/known_hosts"))
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120)
    sudo: bool = Field(
        default=True, description="use `sudo -n` for what needs root (firewall, fail2ban)"
    )
    connect: Connect = Connect()
    services: dict[str, ServiceRuntime] = Field(default_factory=dict)
    secrets: dict[str, SecretSource] = Field(default_factory=dict)
    hardening: HostPolicy = HostPolicy()
    probe: OutsideProbe | None = None
    ops: RemoteOps | None = None
    discord_key_secret: str | None = Field(
        default=None,
        description="one of `secrets`: the Ed25519 private key (hex) of the Discord test "
        "application whose public key the staging bot trusts, to sign interactions (R-SIG-*)",
    )

    @field_validator("ssh")
    @classmethod
    def _login(cls, value: str | None) -> str | None:
        if value is not None and not SSH_LOGIN.match(value):
            raise ValueError(f"must be user@host, got {value!r}")
        return value

    @property
    def user(self) -> str | None:
        found = SSH_LOGIN.match(self.ssh or "")
        return found["user"] if found else None

    @property
    def host(self) -> str | None:
        found = SSH_LOGIN.match(self.ssh or "")
        return found["host"].strip("[]") if found else None

    def problems(self, services: Mapping[str, str], secrets: list[str]) -> list[str]:
        """What refers to nothing: services the profile lacks, secrets it does not name."""
        found = [
            f"remote.services.{name}: no service named {name!r}"
            for name in self.services
            if name not in services
        ]
        known = ", ".join(secrets) or "none"
        found += [
            f"remote.services.{name}.admin_secret: {runtime.admin_secret!r} is not one of "
            f"secrets ({known})"
            for name, runtime in self.services.items()
            if runtime.admin_secret is not None and runtime.admin_secret not in secrets
        ]
        found += [
            f"remote.secrets.{name}: {name!r} is not one of secrets ({known})"
            for name in self.secrets
            if name not in secrets
        ]
        if self.discord_key_secret is not None and self.discord_key_secret not in self.secrets:
            found.append(
                f"remote.discord_key_secret: {self.discord_key_secret!r} is read from nowhere "
                f"(add remote.secrets.{self.discord_key_secret} = {{ env = ... }} or a file)"
            )
        if self.services and self.ssh is None:
            found.append("remote.services: needs remote.ssh (the host they run on)")
        if self.ops is not None and self.ssh is None:
            found.append("remote.ops: needs remote.ssh (the host the scripts run on)")
        return found


def split_address(address: str) -> tuple[str, int]:
    found = ADDRESS.match(address)
    if found is None:
        raise ValueError(f"{address!r} is not host:port")
    return found["host"].strip("[]"), int(found["port"])


def resolve_path(path: Path, profile_source: Path | None) -> Path:
    """`~` expanded; a relative path against the profile file's folder."""
    expanded = path.expanduser()
    if expanded.is_absolute() or profile_source is None:
        return expanded
    return profile_source.parent.resolve() / expanded
