"""The profile: one TOML file describing the stack under test and the policy it must meet.

Models are frozen and forbid unknown keys, so a misspelt key is an error naming it rather
than a setting silently ignored. Policy defaults are the italic values of the requirement
catalog; a profile may tighten them, never loosen one or switch a check off without a
waiver, which needs a reason and an expiry date (`profile.policy` tells tighter from looser).
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import sys
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from stackproof.backend_registry import AUTO, BACKEND_CHOICES
from stackproof.catalog import by_id
from stackproof.checks import csp
from stackproof.profile.auth import AuthSettings
from stackproof.profile.chaos import (
    CommandSettings,
    FaultSettings,
    ResiliencePolicy,
    RestartPolicy,
    UptimeMonitorSettings,
    check_references,
)
from stackproof.profile.compose import ComposeSettings
from stackproof.profile.generic import GenericSettings
from stackproof.profile.policy import policy_values, waiver_hint
from stackproof.profile.remote import RemoteSettings as RemoteHostSettings

ServiceKind = Literal["postgres", "redis", "nginx", "app", "generic"]
Environment = Literal["test", "staging", "production"]
TlsVersionName = Literal["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

MODERN_PROTOCOLS: tuple[TlsVersionName, ...] = ("TLSv1.2", "TLSv1.3")
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
DEFAULT_PORTS: dict[str, tuple[str, ...]] = {
    "postgres": ("postgres",),
    "redis": ("redis",),
    "nginx": ("https", "http"),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"must start with '/', got {value!r}")
    return value


# --- how a service is run ---------------------------------------------------------------


class ProcessSettings(Strict):
    """How the process backend runs a service. Strings may hold `{{ placeholders }}`."""

    command: list[str] | None = Field(default=None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str = "."
    setup: list[list[str]] = Field(
        default_factory=list,
        description="commands run once before the first start, after every link is ready",
    )
    binary: str | None = Field(
        default=None, description="server binary (postgres: its bin/ directory) to use"
    )
    config: str | None = Field(default=None, description="config template, relative to root")
    settings: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="server settings (postgres -c, redis directives)"
    )
    ready_timeout_s: float = Field(default=30.0, gt=0)
    restart: RestartPolicy = Field(
        default_factory=RestartPolicy, description="the supervisor's restart policy (R-RES-5)"
    )


class RemoteSettings(Strict):
    """Where the remote backend reaches a service that is already running."""

    url: str = Field(description="base URL of the service's HTTP interface")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")


class FileDependency(Strict):
    """A file a service's readiness depends on, which the suite may take away and put back
    (R-HLT-3 for a hard one, R-HLT-5 for a soft one)."""

    name: str = Field(pattern=NAME_PATTERN, description="its check's name in the readiness body")
    path: str = Field(
        description="where the service reads it, on the stack's side; the process backend's "
        "placeholders ({{ dir.state }}) apply"
    )
    kind: Literal["hard", "soft"] = "hard"
    take_away: Literal["remove", "unreadable"] = Field(
        default="remove", description="remove the file, or make it unreadable (mode 000)"
    )
    outside_run: bool = Field(
        default=False,
        description="the suite may take the file away although the run did not create it",
    )


class SettingDependency(Strict):
    """A setting (an environment variable) a service's readiness depends on: the suite
    restarts the service without it and, afterwards, with it again (R-HLT-3 for a hard one,
    which readiness must answer 503 without, R-HLT-5 for a soft one, without which the
    service stays ready and reports the degradation). A setting the service refuses to start
    without is no health dependency (R-AUTH-2 judges such refusals)."""

    name: str = Field(pattern=NAME_PATTERN, description="its check's name in the readiness body")
    env: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="the environment variable it is"
    )
    kind: Literal["hard", "soft"] = "hard"
    take_away: Literal["unset", "empty"] = Field(
        default="unset", description="start the service without the variable, or with it empty"
    )


def _unique_names(field: str, names: list[str]) -> None:
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise ValueError(f"{field} repeat a name: {', '.join(repeated)}")


class HealthSettings(Strict):
    liveness: str | None = None
    readiness: str | None = None
    public_prefix: str | None = Field(
        default=None, description="path prefix under which the public front exposes them"
    )
    hard_dependencies: list[str] = Field(default_factory=list)
    soft_dependencies: list[str] = Field(default_factory=list)
    depends_on_files: list[FileDependency] = Field(default_factory=list)
    depends_on_settings: list[SettingDependency] = Field(default_factory=list)

    @field_validator("depends_on_files")
    @classmethod
    def _file_names(cls, value: list[FileDependency]) -> list[FileDependency]:
        _unique_names("depends_on_files", [f.name for f in value])
        return value

    @field_validator("depends_on_settings")
    @classmethod
    def _setting_names(cls, value: list[SettingDependency]) -> list[SettingDependency]:
        _unique_names("depends_on_settings", [s.name for s in value])
        _unique_names("depends_on_settings' env", [s.env for s in value])
        return value

    @field_validator("liveness", "readiness", "public_prefix")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        return None if value is None else _absolute_path(value)


class DatabaseSettings(Strict):
    """The database a postgres service creates for the stack."""

    name: str = Field(default="stack", pattern=NAME_PATTERN)
    user: str = Field(default="stack", pattern=NAME_PATTERN)
    version: int = Field(default=18, ge=12)


class Service(Strict):
    kind: ServiceKind
    ports: tuple[str, ...] = ()
    links: list[str] = Field(default_factory=list)
    health: HealthSettings = HealthSettings()
    database: DatabaseSettings | None = None
    process: ProcessSettings = ProcessSettings()
    remote: RemoteSettings | None = None
    generic: GenericSettings | None = Field(
        default=None, description="a generic service's readiness and link scheme"
    )

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: object) -> object:
        if not isinstance(data, dict) or data.get("kind") not in DEFAULT_PORTS:
            return data
        filled = dict(data)
        filled.setdefault("ports", DEFAULT_PORTS[data["kind"]])
        if data["kind"] == "postgres":
            filled.setdefault("database", {})
        return filled

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if not self.ports:
            raise ValueError(
                f"{'a generic' if self.kind == 'generic' else 'an app'} service must name its "
                "ports, e.g. ports = ['http']"
            )
        if len(set(self.ports)) != len(self.ports):
            raise ValueError(f"ports repeat a name: {list(self.ports)}")
        if self.kind != "postgres" and self.database is not None:
            raise ValueError(f"'database' is for postgres services, this one is {self.kind}")
        self._check_generic()
        for dependency in (*self.health.hard_dependencies, *self.health.soft_dependencies):
            if dependency not in self.links:
                raise ValueError(
                    f"health dependency {dependency!r} is not one of this service's links "
                    f"({', '.join(self.links) or 'none'})"
                )
        return self

    def _check_generic(self) -> None:
        if self.kind != "generic":
            if self.generic is not None:
                raise ValueError(f"'generic' is for generic services, this one is {self.kind}")
            return
        if found := (self.generic or GenericSettings()).problems(self.ports):
            raise ValueError("; ".join(found))

    @property
    def generic_settings(self) -> GenericSettings:
        """A generic service's settings, defaults filled in."""
        return self.generic or GenericSettings()

    @property
    def primary_port(self) -> str:
        return self.ports[0]


# --- what the public front must answer -------------------------------------------------


class Probe(Strict):
    """A request to the public front with the status the stack must answer."""

    path: str
    expect: int = Field(ge=100, le=599)
    method: HttpMethod = "GET"
    body: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    service: str | None = Field(default=None, description="the service that answers it")

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _absolute_path(value)


class PublicRemote(Strict):
    https_url: str
    http_url: str | None = None


class PublicSettings(Strict):
    service: str = "nginx"
    https_port: str = "https"
    http_port: str = "http"
    body_limit_path: str = Field(default="/", description="a path that accepts POST bodies")
    acme_challenge_prefix: str = "/.well-known/acme-challenge/"
    remote: PublicRemote | None = None


class StackSettings(Strict):
    root: Path | None = Field(
        default=None,
        description="the stack's source tree, relative to the profile file (local backends)",
    )
    public_host: str = "localhost"
    certificate_days: float = Field(
        default=90, gt=0, description="validity of the certificate a local run issues"
    )
    certificate_names: list[str] | None = Field(
        default=None, description="names the local certificate covers (default: public_host)"
    )
    python: str | None = Field(
        default=None,
        description="the interpreter {{ python }} names for the stack's services and monitor "
        "(its virtualenv's bin/python, relative to the profile's folder, or a name on PATH); "
        "default: the one stackproof runs on",
    )

    def interpreter(self) -> str:
        """What {{ python }} is: `python`, found, or stackproof's own interpreter."""
        if self.python is None:
            return sys.executable
        return shutil.which(self.python) or self.python


# --- policy: the values of the requirements --------------------------------------------


class TlsPolicy(Strict):
    mozilla_profile: Literal["modern", "intermediate", "old"] = "intermediate"
    protocols: list[TlsVersionName] = Field(default_factory=lambda: list(MODERN_PROTOCOLS))
    min_days_valid: int = Field(default=14, ge=0)
    ca_bundle: Path | None = Field(
        default=None, description="trust anchor for remote stacks; the run's CA otherwise"
    )


class HeaderPolicy(Strict):
    hsts_min_age: int = Field(default=63_072_000, ge=1)
    hsts_include_subdomains: bool = True
    required: dict[str, str] = Field(
        default_factory=lambda: {
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin-when-cross-origin",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        }
    )
    request_id: str = "X-Request-ID"
    foreign_origin: str = "https://foreign.stackproof.invalid"
    content_security_policy: str = Field(
        default=csp.CATALOG_POLICY,
        description="R-HDR-6: what API answers must be at least as strict as (tighter only)",
    )

    @field_validator("content_security_policy")
    @classmethod
    def _no_laxer_than_the_catalog(cls, value: str) -> str:
        problems = csp.policy_problems([value], csp.parse_policy(csp.CATALOG_POLICY))
        if problems:
            raise ValueError(
                f"must be at least as strict as the catalog's {csp.CATALOG_POLICY!r} "
                f"(R-HDR-6): {'; '.join(problems)}"
            )
        return value


class LimitsPolicy(Strict):
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    rate_limit_requests: int = Field(default=60, ge=1)
    rate_limit_window_s: float = Field(default=60.0, gt=0)


class HealthPolicy(Strict):
    liveness_within_s: float = Field(default=1.0, gt=0)
    detect_within_s: float = Field(default=5.0, gt=0)
    recover_within_s: float = Field(default=5.0, gt=0)
    poll_interval_s: float = Field(default=0.1, gt=0, le=1.0)
    slow_dependency_ms: int = Field(default=5000, ge=1, description="latency R-HLT-4 injects")
    slow_readiness_within_s: float = Field(
        default=3.0, gt=0, description="readiness answers within this under that latency"
    )


class DeployPolicy(Strict):
    """R-DEP-1, 2: how a deploy watches the new release, and how long an outage may last."""

    health_interval_s: float = Field(default=5.0, gt=0)
    health_deadline_s: float = Field(default=60.0, gt=0)
    outage_budget_s: float = Field(
        default=120.0,
        gt=0,
        description="longest a failed deploy may leave the service unready, rollback included",
    )

    @model_validator(mode="after")
    def _interval_within_deadline(self) -> Self:
        if self.health_interval_s > self.health_deadline_s:
            raise ValueError(
                f"health_interval_s ({self.health_interval_s:g}) exceeds health_deadline_s "
                f"({self.health_deadline_s:g}): the deploy would poll at most once"
            )
        return self


class BackupPolicy(Strict):
    """R-BAK-2, 4, 5: retention, the recovery objectives, and how the drill measures them."""

    retention_days: float = Field(default=7.0, gt=0)
    rto_objective_s: float = Field(default=1800.0, gt=0, description="30 min")
    rpo_objective_s: float = Field(default=86400.0, gt=0, description="24 h of daily backups")
    drills: int = Field(default=3, ge=1, le=100, description="restore drills per run (N)")
    canary_rate_per_s: float = Field(default=10.0, gt=0, le=200)
    canary_writes_before_backup: int = Field(default=10, ge=1)
    canary_writes_after_backup: int = Field(default=10, ge=1)


class Policy(Strict):
    tls: TlsPolicy = TlsPolicy()
    headers: HeaderPolicy = HeaderPolicy()
    limits: LimitsPolicy = LimitsPolicy()
    health: HealthPolicy = HealthPolicy()
    deploy: DeployPolicy = DeployPolicy()
    backup: BackupPolicy = BackupPolicy()
    resilience: ResiliencePolicy = ResiliencePolicy()


# --- operations: the scripts the rollback and backup suites drill --------------------------


class OpsSettings(Strict):
    """The stack's operations scripts (deploy, backup, restore, retention) and their config.

    Each script is an argv run from the stack root, as cron or CI would run it. `config` is a
    template (relative to the stack root) rendered with the run's facts into the stack's ops
    folder (`{{ ops.config }}`, mode 0600); scripts find it in `OPS_CONFIG`.
    """

    config: str | None = Field(default=None, description="config template, relative to root")
    deploy: list[str] | None = Field(default=None, min_length=1)
    backup: list[str] | None = Field(default=None, min_length=1)
    restore: list[str] | None = Field(default=None, min_length=1)
    retention: list[str] | None = Field(default=None, min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    database: str | None = Field(
        default=None, description="the postgres service backed up (default: the only one)"
    )
    backup_dir: str = Field(default="backups", description="relative to the ops folder")
    releases_dir: str = Field(
        default="releases", description="<service>/current → releases/<version>, relative"
    )
    deploy_services: list[str] = Field(
        default_factory=list, description="services run from a release that deploy switches"
    )
    release_entrypoint: str = Field(
        default="bin/start", description="what a release runs, relative to its folder"
    )


class CanarySettings(Strict):
    """Where the restore drill writes timestamped rows through a service, and reads them back.

    POST `write_path` with `{"seq": n, "written_at": iso}` stores a row (2xx); GET `read_path`
    answers `{"seq": newest, ...}` (404 while there is none). Rows live in `table`, keyed by
    `key`, for the row-level checks after a restore.
    """

    service: str
    write_path: str = "/canary"
    read_path: str = "/canary/latest"
    table: str = Field(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
    key: str = Field(default="seq", pattern=NAME_PATTERN)
    token_header: str = "X-Canary-Token"  # noqa: S105 - a header name, not a secret
    token_secret: str | None = Field(
        default=None, description="the name of one of `secrets`, sent in token_header"
    )

    @field_validator("write_path", "read_path")
    @classmethod
    def _paths(cls, value: str) -> str:
        return _absolute_path(value)


class RedactionSettings(Strict):
    """What the redaction suite drives and scans (R-RED-1..4).

    `services` are the app services whose telemetry must be redacted (their logs, answers and
    error events are scanned); `sentry` is the service receiving their error events (a
    Sentry ingest that `stackproof.fakes.sentry`'s control API can read); `hash_command`,
    run beside `hash_service` with an ID appended, prints the ID's telemetry hash.
    """

    services: list[str] = Field(min_length=1)
    sentry: str | None = None
    hash_service: str | None = None
    hash_command: list[str] | None = Field(default=None, min_length=1)
    salt_variable: str = "USERID_HASH_SALT"
    salt_secret: str | None = Field(
        default=None, description="the name of one of `secrets` the services get as the salt"
    )
    upstream: str | None = Field(
        default=None, description="an outside-world fake with an outage control (AniList's)"
    )


class Waiver(Strict):
    id: str
    reason: str = Field(min_length=10)
    expires: dt.date

    @field_validator("id")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in by_id():
            raise ValueError(f"{value!r} is not a requirement ID of the catalog")
        return value

    def active(self, today: dt.date) -> bool:
        return today <= self.expires


# --- the profile ------------------------------------------------------------------------


class Profile(Strict):
    name: str = Field(pattern=r"^[\w.-]+$")
    description: str = ""
    environment: Environment = "test"
    backend: str = AUTO
    stack: StackSettings
    public: PublicSettings = PublicSettings()
    services: dict[str, Service] = Field(min_length=1)
    probes: dict[str, Probe] = Field(default_factory=dict)
    secrets: list[str] = Field(
        default_factory=list,
        description="names of secrets generated for each run, used as {{ secret.<name> }}",
    )
    policy: Policy = Policy()
    waivers: list[Waiver] = Field(default_factory=list)
    faults: FaultSettings = FaultSettings()
    command: CommandSettings | None = None
    uptime_monitor: UptimeMonitorSettings | None = None
    ops: OpsSettings | None = None
    canary: CanarySettings | None = None
    redaction: RedactionSettings | None = None
    auth: AuthSettings | None = None
    compose: ComposeSettings | None = None  # the compose backend's file and service map
    remote: RemoteHostSettings = RemoteHostSettings()

    _source: Path | None = PrivateAttr(default=None)

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, backend: str) -> str:
        if backend not in BACKEND_CHOICES:
            raise ValueError(f"{backend!r} is not a backend (known: {', '.join(BACKEND_CHOICES)})")
        return backend

    @field_validator("services")
    @classmethod
    def _service_names(cls, services: dict[str, Service]) -> dict[str, Service]:
        for name in services:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"service name {name!r} must match {NAME_PATTERN}")
        return services

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        for name, service in self.services.items():
            for link in service.links:
                if link not in self.services:
                    raise ValueError(f"services.{name}.links: no service named {link!r}")
                if link == name:
                    raise ValueError(f"services.{name}.links: a service cannot link to itself")
        self.start_order()  # raises on a cycle
        front = self.services.get(self.public.service)
        if front is None:
            raise ValueError(f"public.service: no service named {self.public.service!r}")
        for port in (self.public.https_port, self.public.http_port):
            if port not in front.ports:
                raise ValueError(
                    f"public: service {self.public.service!r} has no port {port!r} "
                    f"(it has {', '.join(front.ports)})"
                )
        for secret in self.secrets:
            if not re.match(NAME_PATTERN, secret):
                raise ValueError(f"secrets: {secret!r} must match {NAME_PATTERN}")
        for probe_name, probe in self.probes.items():
            if probe.service is not None and probe.service not in self.services:
                raise ValueError(f"probes.{probe_name}.service: no service named {probe.service!r}")
        check_references(
            {name: s.kind for name, s in self.services.items()}, self.command, self.uptime_monitor
        )
        waived = [w.id for w in self.waivers]
        if len(waived) != len(set(waived)):
            raise ValueError("waivers: each requirement may be waived once")
        self._check_ops()
        self._check_redaction()
        self._check_loosened_policy()
        self._check_remote()
        return self

    def _check_loosened_policy(self) -> None:
        """A value looser than the catalog's needs an active waiver of its requirement."""
        today = dt.date.today()
        problems = []
        for value in policy_values(self.policy):
            if value.direction != "looser":
                continue
            waiver = self.waiver_for(value.requirement)
            if waiver is None:
                problems.append(f"{value.describe()}; {waiver_hint(value.requirement)}")
            elif not waiver.active(today):
                problems.append(
                    f"{value.describe()}; its waiver expired on {waiver.expires}: renew it "
                    "or use the catalog's value"
                )
        if problems:
            raise ValueError("\n  - ".join(problems))  # one line each under the profile's

    def _check_remote(self) -> None:
        kinds = {n: s.kind for n, s in self.services.items()}
        if found := self.remote.problems(kinds, self.secrets):
            raise ValueError("; ".join(found))

    def _check_ops(self) -> None:
        if self.ops is not None:
            for name in self.ops.deploy_services:
                service = self.services.get(name)
                if service is None or service.kind != "app":
                    raise ValueError(f"ops.deploy_services: {name!r} is not an app service")
            if self.ops.database is not None:
                database = self.services.get(self.ops.database)
                if database is None or database.kind != "postgres":
                    raise ValueError(
                        f"ops.database: {self.ops.database!r} is not a postgres service"
                    )
        if self.canary is not None:
            if self.canary.service not in self.services:
                raise ValueError(f"canary.service: no service named {self.canary.service!r}")
            secret = self.canary.token_secret
            if secret is not None and secret not in self.secrets:
                known = ", ".join(self.secrets) or "none"
                raise ValueError(f"canary.token_secret: {secret!r} is not one of secrets ({known})")
        if self.auth is not None and (
            found := self.auth.problems({n: s.kind for n, s in self.services.items()}, self.secrets)
        ):
            raise ValueError("; ".join(found))

    def _check_redaction(self) -> None:
        settings = self.redaction
        if settings is None:
            return
        named = [("services", n) for n in settings.services] + [
            (key, name)
            for key, name in (
                ("sentry", settings.sentry),
                ("hash_service", settings.hash_service),
                ("upstream", settings.upstream),
            )
            if name is not None
        ]
        for key, name in named:
            if name not in self.services:
                raise ValueError(f"redaction.{key}: no service named {name!r}")
        if settings.salt_secret is not None and settings.salt_secret not in self.secrets:
            known = ", ".join(self.secrets) or "none"
            raise ValueError(
                f"redaction.salt_secret: {settings.salt_secret!r} is not one of secrets ({known})"
            )

    # --- derived views ---

    @property
    def source(self) -> Path | None:
        return self._source

    def start_order(self) -> list[list[str]]:
        """Services in waves: each wave only links to services of earlier waves."""
        placed: set[str] = set()
        waves: list[list[str]] = []
        remaining = dict(self.services)
        while remaining:
            wave = sorted(n for n, s in remaining.items() if set(s.links) <= placed)
            if not wave:
                cycle = ", ".join(sorted(remaining))
                raise ValueError(f"services: the links of {cycle} form a cycle")
            waves.append(wave)
            placed.update(wave)
            for name in wave:
                del remaining[name]
        return waves

    def services_of_kind(self, kind: ServiceKind) -> list[str]:
        return [name for name, service in self.services.items() if service.kind == kind]

    def health_checked(self) -> list[str]:
        """Services that expose a liveness or readiness endpoint."""
        return [
            name
            for name, service in self.services.items()
            if service.health.liveness or service.health.readiness
        ]

    def backup_database(self) -> str | None:
        """The postgres service the ops scripts back up: named in `ops`, else the only one."""
        if self.ops is not None and self.ops.database is not None:
            return self.ops.database
        found = self.services_of_kind("postgres")
        return found[0] if len(found) == 1 else None

    def waiver_for(self, requirement_id: str) -> Waiver | None:
        return next((w for w in self.waivers if w.id == requirement_id), None)
