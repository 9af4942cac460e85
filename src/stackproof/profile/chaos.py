"""Profile settings for faults and resilience: the fault proxy, restart policies, the command
the chaos suite sends, the uptime monitor, and the resilience policy values.

Kept apart from `model.py` so the core model stays small; `model.py` only names these.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stackproof.profile.template import TemplateError, render

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def is_loopback_host(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- the fault proxy -------------------------------------------------------------------


class ToxiproxySettings(_Strict):
    """Which Toxiproxy-API server carries the stack's links. Neither key: the built-in one,
    started for each stack. Both speak the same API, so the suites run against either."""

    url: str | None = Field(
        default=None, description="a Toxiproxy server already running on this host"
    )
    binary: str | None = Field(
        default=None, description="a toxiproxy-server binary to start for each stack"
    )

    @field_validator("url")
    @classmethod
    def _loopback_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"must look like http://127.0.0.1:8474, got {value!r}")
        if not is_loopback_host(parts.hostname):
            raise ValueError(
                f"{value!r} is not on loopback: the server's proxies must listen where this "
                "host's services can reach them, so run toxiproxy-server on this host"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_server(self) -> Self:
        if self.url is not None and self.binary is not None:
            raise ValueError("name either a running server (url) or a binary to start, not both")
        return self

    @property
    def kind(self) -> Literal["builtin", "binary", "url"]:
        if self.url is not None:
            return "url"
        return "binary" if self.binary is not None else "builtin"


class FaultSettings(_Strict):
    proxy_links: bool = Field(
        default=True, description="run every link through a proxy of the fault server"
    )
    toxiproxy: ToxiproxySettings = ToxiproxySettings()


# --- supervision -----------------------------------------------------------------------


class RestartPolicy(_Strict):
    """How the process backend's supervisor treats a service that exits (R-RES-5).

    `never` (the default) runs the service bare; `on-failure` restarts it after a non-zero
    exit or a death by signal; `always` also after a clean exit. More than `max_restarts`
    within `window_s` and the supervisor gives up, as systemd's start limit does.
    """

    policy: Literal["never", "on-failure", "always"] = "never"
    max_restarts: int = Field(default=5, ge=1)
    window_s: float = Field(default=60.0, gt=0)
    backoff_s: float = Field(default=0.2, ge=0, le=30)

    @property
    def enabled(self) -> bool:
        return self.policy != "never"


# --- what the chaos suite sends and watches --------------------------------------------


class CommandSettings(_Strict):
    """A command the stack answers, sent through the public front as a signed Discord
    application-command interaction (type 2). The interaction's ID is the key of the one
    row the handled command must write."""

    service: str = Field(description="the service that answers it")
    path: str = Field(description="where the front takes interactions, e.g. /bot/interactions")
    name: str = Field(pattern=r"^[\w-]{1,32}$", description="the application command's name")
    options: dict[str, str] = Field(default_factory=dict)
    answer_contains: str = Field(
        min_length=1, description="text an answer with data carries (the looked-up title)"
    )
    cache: str | None = Field(default=None, description="the soft cache service (redis)")
    cache_keys: str = Field(default="*", description="SCAN pattern of the command's entries")
    database: str | None = Field(default=None, description="the postgres service written to")
    count_query: str | None = Field(
        default=None, description="SQL counting the rows one interaction ID (%s) wrote"
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"must start with '/', got {value!r}")
        return value

    @model_validator(mode="after")
    def _writes(self) -> Self:
        if (self.database is None) != (self.count_query is None):
            raise ValueError("database and count_query go together")
        if self.count_query is not None and self.count_query.count("%s") != 1:
            raise ValueError("count_query takes the interaction ID as its one %s parameter")
        return self


class UptimeMonitorSettings(_Strict):
    """The stack's uptime monitor: one probe per run (as cron runs it), alerting a webhook.

    `command` and `env` may use {{ python }}, {{ url }} (the watched readiness URL through
    the front), {{ connect }} (the address:port the front answers on), {{ ca_file }},
    {{ state_file }}, {{ webhook }} and {{ dir.root }}.
    """

    service: str = Field(description="the service whose readiness it watches")
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    down_pattern: str = Field(default=r"\bDOWN\b", description="regex an UP->DOWN alert matches")
    up_pattern: str = Field(default=r"\bUP\b", description="regex a DOWN->UP alert matches")
    timeout_s: float = Field(default=30.0, gt=0, description="how long one run may take")

    @field_validator("down_pattern", "up_pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"not a regular expression: {error}") from None
        return value

    @model_validator(mode="after")
    def _placeholders(self) -> Self:
        names = ("python", "url", "connect", "ca_file", "state_file", "webhook")
        stand_in = dict.fromkeys(names, "x")
        context = {**stand_in, "dir": {"root": "x"}}
        for key, text in [
            *((f"command[{i}]", part) for i, part in enumerate(self.command)),
            *((f"env.{name}", value) for name, value in self.env.items()),
        ]:
            try:
                render(text, context)
            except TemplateError as error:
                raise ValueError(f"{key}: {error}") from None
        return self


class ResiliencePolicy(_Strict):
    """The numbers of R-RES-1..5."""

    cache_ttl_s: int = Field(default=18_000, ge=1)
    db_latency_ms: int = Field(default=500, ge=0)
    answer_within_s: float = Field(
        default=3.0, gt=0, description="the service's timeout (Discord's 3 s for interactions)"
    )
    restart_within_s: float = Field(default=10.0, gt=0)
    writes_land_within_s: float = Field(
        default=10.0, gt=0, description="for accepted writes to land once faults are gone"
    )


def check_references(
    services: dict[str, str], command: CommandSettings | None, monitor: UptimeMonitorSettings | None
) -> None:
    """Cross-checks against the profile's services (name -> kind); raises ValueError."""
    if command is not None:
        wanted: list[tuple[str, str, str | None]] = [("command.service", command.service, None)]
        if command.cache is not None:
            wanted.append(("command.cache", command.cache, "redis"))
        if command.database is not None:
            wanted.append(("command.database", command.database, "postgres"))
        for key, name, kind in wanted:
            if name not in services:
                raise ValueError(f"{key}: no service named {name!r}")
            if kind is not None and services[name] != kind:
                raise ValueError(f"{key}: {name!r} is a {services[name]} service, not {kind}")
    if monitor is not None and monitor.service not in services:
        raise ValueError(f"uptime_monitor.service: no service named {monitor.service!r}")
