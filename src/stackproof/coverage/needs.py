"""What each check needs from the profile, the backend and this machine, known before a stack
starts: the one source for `stackproof plan`, the README's table and the run's own skips.

A test names its needs with `@pytest.mark.needs(...)`; the fixtures it uses add theirs
(`FIXTURE_NEEDS`). Before a test's fixtures run, the plugin skips it when a need is unmet,
with that need's reason and what would enable it, so the plan cannot say one thing and the
run another. What only the running stack shows (no 5xx answer came, no cookie was set)
stays in the tests, which skip saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from stackproof.backends.values import Capability, Offer
from stackproof.checks.clients import MERGED_ENABLE, merged_clients
from stackproof.profile import Profile

Where = Literal["profile", "backend", "here"]  # what would have to change: "here" = machine


@dataclass(frozen=True, slots=True)
class Subject:
    """What a plan (or a run, before its stacks start) knows: the profile, what the chosen
    backend offers for it, why destructive checks may not run, and this machine's limits."""

    profile: Profile
    backend: str
    offer: Offer
    destructive_refusal: str | None = None


@dataclass(frozen=True, slots=True)
class Need:
    name: str
    where: Where
    missing: Callable[[Subject], str | None]  # why it is unmet, with what enables it; None: met
    summary: str  # for the README's table: what it asks for

    def unmet(self, subject: Subject) -> str | None:
        return self.missing(subject)


def _capability(capability: Capability, what: str) -> Callable[[Subject], str | None]:
    def missing(subject: Subject) -> str | None:
        if capability in subject.offer.capabilities:
            return None
        return (
            f"the {subject.backend} backend cannot {what} for this profile, which this check "
            "needs (to enable: a backend that can, such as --backend=process"
            + (", or remote.services with remote.ssh" if subject.backend == "remote" else "")
            + ")"
        )

    return missing


def _secret(field: Callable[[Profile], str | None], what: str) -> Callable[[Subject], str | None]:
    def missing(subject: Subject) -> str | None:
        name = field(subject.profile)
        if name is None or subject.offer.holds_secret(name):
            return None  # no such secret named: the need that names it says so
        return (
            f"the {subject.backend} backend holds no {what} of the stack (secret {name!r}) "
            f"(to enable: remote.secrets.{name}, an environment variable or a file)"
        )

    return missing


def _readiness_with(kind: str) -> Callable[[Profile], bool]:
    def found(profile: Profile) -> bool:
        for service in profile.services.values():
            health = service.health
            dependencies = health.hard_dependencies if kind == "hard" else health.soft_dependencies
            if health.readiness and dependencies:
                return True
        return False

    return found


def _readiness_with_file(kind: str) -> Callable[[Profile], bool]:
    def found(profile: Profile) -> bool:
        return any(
            s.health.readiness and any(f.kind == kind for f in s.health.depends_on_files)
            for s in profile.services.values()
        )

    return found


def _readiness_with_setting(kind: str) -> Callable[[Profile], bool]:
    def found(profile: Profile) -> bool:
        return any(
            s.health.readiness and any(d.kind == kind for d in s.health.depends_on_settings)
            for s in profile.services.values()
        )

    return found


def _database_behind_readiness(profile: Profile) -> bool:
    databases = set(profile.services_of_kind("postgres"))
    return any(
        s.health.readiness and databases & set(s.health.hard_dependencies)
        for s in profile.services.values()
    )


def _liveness_with_links(profile: Profile) -> bool:
    live = {n for n, s in profile.services.items() if s.health.liveness}
    return any(set(profile.services[n].links) - live for n in live)


def _health_at_front(profile: Profile) -> bool:
    return any(
        s.health.public_prefix and (s.health.liveness or s.health.readiness)
        for s in profile.services.values()
    )


def _front_readiness_with_hard_dependency(profile: Profile) -> bool:
    return any(
        s.health.public_prefix and s.health.readiness and s.health.hard_dependencies
        for s in profile.services.values()
    )


def _profile_need(
    name: str, summary: str, condition: Callable[[Profile], object], why: str, enable: str
) -> Need:
    def missing(subject: Subject) -> str | None:
        return None if condition(subject.profile) else f"{why} (to enable: {enable})"

    return Need(name, "profile", missing, summary)


def _remote_need(name: str, summary: str, key: str, why: str) -> Need:
    """A profile key only the remote backend reads (the others find these facts themselves)."""

    def missing(subject: Subject) -> str | None:
        if subject.backend != "remote" or getattr(subject.profile.remote, key):
            return None
        return f"{why} (to enable: remote.{key})"

    return Need(name, "profile", missing, summary)


def _oauth_secret(profile: Profile, field: str) -> str | None:
    oauth = profile.auth.oauth if profile.auth is not None else None
    return None if oauth is None else str(getattr(oauth, field))


_PROFILE_NEEDS = (
    _profile_need(
        "auth", "an [auth] section", lambda p: p.auth,
        "the profile has no [auth] section (API key, rate-limited path, OAuth)", "[auth]",
    ),
    _profile_need(
        "oauth", "[auth.oauth]", lambda p: p.auth is not None and p.auth.oauth,
        "the profile has no [auth.oauth] section", "[auth.oauth]",
    ),
    _profile_need(
        "rate_limited_path", "auth.rate_limited_path",
        lambda p: p.auth is not None and p.auth.rate_limited_path,
        "the profile names no rate-limited path", "auth.rate_limited_path",
    ),
    _profile_need(
        "command", "a [command] (the Discord interactions endpoint)", lambda p: p.command,
        "the profile describes no Discord command to send", "[command]",
    ),
    _profile_need(
        "command_cache", "command.cache", lambda p: p.command is not None and p.command.cache,
        "the profile's command names no cache", "command.cache",
    ),
    _profile_need(
        "command_writes", "command.database and count_query",
        lambda p: p.command is not None and p.command.database,
        "the profile's command names no database writes",
        "command.database and command.count_query",
    ),
    _profile_need(
        "uptime_monitor", "[uptime_monitor]", lambda p: p.uptime_monitor,
        "the profile describes no uptime monitor", "[uptime_monitor]",
    ),
    _profile_need(
        "ops", "[ops] scripts", lambda p: p.ops,
        "the profile names no operations scripts", "[ops]",
    ),
    _profile_need(
        "deploy_services", "ops.deploy_services",
        lambda p: p.ops is not None and p.ops.deploy_services,
        "the profile names no service deployed as releases", "ops.deploy_services",
    ),
    _profile_need(
        "backup_database", "a PostgreSQL database to back up", lambda p: p.backup_database(),
        "the backup and restore drills read and restore pg_dump archives of a PostgreSQL "
        "database, and the profile names none for its backups",
        "ops.database, or a single postgres service",
    ),
    _profile_need(
        "canary", "[canary]", lambda p: p.canary,
        "the profile names no [canary] to measure RPO with", "[canary]",
    ),
    _profile_need(
        "redaction", "[redaction] services", lambda p: p.redaction,
        "the profile has no [redaction] section naming the services to scan", "[redaction]",
    ),
    _profile_need(
        "sentry", "redaction.sentry", lambda p: p.redaction is not None and p.redaction.sentry,
        "the profile names no Sentry ingest", "redaction.sentry",
    ),
    _profile_need(
        "hash_command", "redaction.hash_command",
        lambda p: p.redaction is not None and p.redaction.hash_command and p.redaction.hash_service,
        "the profile names no hash command", "redaction.hash_command and redaction.hash_service",
    ),
    _profile_need(
        "salt_secret", "redaction.salt_secret",
        lambda p: p.redaction is not None and p.redaction.salt_secret,
        "the profile does not say which secret is the salt", "redaction.salt_secret",
    ),
    _profile_need(
        "liveness", "a liveness endpoint",
        lambda p: any(s.health.liveness for s in p.services.values()),
        "the profile names no liveness endpoint", "services.<name>.health.liveness",
    ),
    _profile_need(
        "liveness_with_links", "a liveness-checked service with links", _liveness_with_links,
        "no service with a liveness endpoint links to a dependency to take away",
        "services.<name>.links",
    ),
    _profile_need(
        "readiness", "a readiness endpoint",
        lambda p: any(s.health.readiness for s in p.services.values()),
        "the profile names no readiness endpoint", "services.<name>.health.readiness",
    ),
    _profile_need(
        "hard_dependency", "readiness with hard_dependencies", _readiness_with("hard"),
        "no service with a readiness endpoint names a hard dependency",
        "services.<name>.health.hard_dependencies",
    ),
    _profile_need(
        "soft_dependency", "readiness with soft_dependencies", _readiness_with("soft"),
        "no service with a readiness endpoint names a soft dependency",
        "services.<name>.health.soft_dependencies",
    ),
    _profile_need(
        "hard_file_dependency", "readiness with a hard depends_on_files",
        _readiness_with_file("hard"),
        "no service with a readiness endpoint names a hard file dependency to take away",
        "services.<name>.health.depends_on_files with kind = \"hard\"",
    ),
    _profile_need(
        "soft_file_dependency", "readiness with a soft depends_on_files",
        _readiness_with_file("soft"),
        "no service with a readiness endpoint names a soft file dependency to take away",
        "services.<name>.health.depends_on_files with kind = \"soft\"",
    ),
    _profile_need(
        "hard_setting_dependency", "readiness with a hard depends_on_settings",
        _readiness_with_setting("hard"),
        "no service with a readiness endpoint names a hard setting dependency to take away",
        "services.<name>.health.depends_on_settings with kind = \"hard\"",
    ),
    _profile_need(
        "soft_setting_dependency", "readiness with a soft depends_on_settings",
        _readiness_with_setting("soft"),
        "no service with a readiness endpoint names a soft setting dependency to take away",
        "services.<name>.health.depends_on_settings with kind = \"soft\"",
    ),
    _profile_need(
        "front_readiness", "readiness through the front",
        lambda p: any(s.health.readiness and s.health.public_prefix for s in p.services.values()),
        "no service's readiness is exposed through the front",
        "services.<name>.health.public_prefix",
    ),
    _profile_need(
        "front_readiness_with_hard_dependency", "front readiness with hard_dependencies",
        _front_readiness_with_hard_dependency,
        "no readiness behind the front names a hard dependency to stop",
        "health.public_prefix with readiness and hard_dependencies",
    ),
    _profile_need(
        "health_paths", "a health endpoint through the front", _health_at_front,
        "the front exposes no health endpoint", "services.<name>.health.public_prefix",
    ),
    _profile_need(
        "database", "a postgres service", lambda p: p.services_of_kind("postgres"),
        "the profile has no PostgreSQL service, which this check drives (a generic "
        "service, such as MySQL, is not one)", "a postgres service",
    ),
    _profile_need(
        "database_behind_readiness", "readiness with a postgres hard dependency",
        _database_behind_readiness,
        "no service with a readiness endpoint depends on a PostgreSQL database",
        "a postgres service in health.hard_dependencies",
    ),
    _remote_need(
        "hosted_services", "remote.services (remote)", "services",
        "the profile says of no service how it runs on the host",
    ),
    _profile_need(
        "outside_probe", "remote.probe", lambda p: p.remote.probe,
        "no outside vantage point for the probe", "remote.probe, the host's address from "
        "another machine",
    ),
)  # fmt: skip

_BACKEND_NEEDS = (
    Need("control", "backend", _capability(Capability.CONTROL, "control services"), "control"),
    Need("logs", "backend", _capability(Capability.LOGS, "read service logs"), "service logs"),
    Need(
        "ops_runner", "backend",
        _capability(Capability.OPS, "run the stack's operations scripts"), "running ops scripts",
    ),
    Need("host", "backend", lambda s: s.offer.no_host, "a host to inspect"),
    Need(
        "host_commands", "backend", lambda s: s.offer.no_host_commands,
        "the host's firewall and fail2ban (a staging host)",
    ),
    Need(
        "distinct_clients", "backend",
        lambda s: s.offer.no_distinct_clients
        and f"{merged_clients(s.offer.no_distinct_clients)} (to enable: {MERGED_ENABLE})",
        "a front that tells clients apart",
    ),
    Need("signer", "backend", lambda s: s.offer.no_signer, "the Discord key the bot trusts"),
    Need(
        "dependency_files", "backend", lambda s: s.offer.no_dependency_files,
        "taking a service's files away",
    ),
    Need(
        "setting_changes", "backend", lambda s: s.offer.no_setting_changes,
        "restarting a service with a setting taken away",
    ),
    Need(
        "fault_links", "backend",
        lambda s: s.offer.no_fault_links and "network faults need the stack's links on a fault "
        f"proxy: {s.offer.no_fault_links}",
        "links through a fault proxy",
    ),
    Need(
        "api_key_value", "backend",
        _secret(lambda p: p.auth.api_key_secret if p.auth else None, "API key"), "the API key",
    ),
    Need(
        "context_key_value", "backend",
        _secret(lambda p: _oauth_secret(p, "context_key_secret"), "OAuth context key"),
        "the OAuth context key",
    ),
    Need(
        "token_canary_value", "backend",
        _secret(lambda p: _oauth_secret(p, "token_canary_secret"), "token canary"),
        "the token canary",
    ),
    Need(
        "salt_value", "backend",
        _secret(lambda p: p.redaction.salt_secret if p.redaction else None, "hash salt"),
        "the hash salt",
    ),
)  # fmt: skip

_HERE_NEEDS = (
    Need("partitions", "here", lambda s: s.offer.no_partitions, "iptables, or container networks"),
    Need("destructive", "profile", lambda s: s.destructive_refusal, "a stack the run may harm"),
)

NEEDS: dict[str, Need] = {n.name: n for n in (*_PROFILE_NEEDS, *_BACKEND_NEEDS, *_HERE_NEEDS)}

# The needs a fixture brings to every test that uses it (directly or through another).
FIXTURE_NEEDS: dict[str, tuple[str, ...]] = {
    "auth": ("auth",),
    "oauth": ("auth", "oauth"),
    "link_flow": ("auth", "oauth", "context_key_value"),
    "interactions_path": ("command",),
    "discord": ("signer",),
    "client_of": ("distinct_clients",),
    "commands": ("command", "signer"),
    "ledger": ("command", "command_writes"),
    "ops_scripts": ("ops", "ops_runner"),
    "own_ops_scripts": ("ops", "ops_runner"),
    "deploy_target": ("ops", "deploy_services", "ops_runner"),
    "restore_drills": ("backup_database", "ops", "canary", "ops_runner"),
    "redaction_settings": ("redaction",),
    "redaction_stack": ("redaction",),
    "sentry_client": ("redaction", "sentry"),
    "error_paths": ("redaction", "command", "signer"),
    "host": ("host",),
}


# What kind of database a check drives is told before anything else it lacks: on a MySQL
# stack the backup drills skip because they need PostgreSQL, not because [ops] is missing.
POSTGRES_NEEDS = ("database", "backup_database", "database_behind_readiness")


def needs_of(marked: Iterable[str], fixtures: Iterable[str], destructive: bool) -> list[Need]:
    """A test's needs, in a stable order: `destructive` first, then PostgreSQL, then its
    fixtures', then its marker's."""
    names = ["destructive"] if destructive else []
    others = [n for f in fixtures for n in FIXTURE_NEEDS.get(f, ())] + list(marked)
    names += [n for n in others if n in POSTGRES_NEEDS]
    names += [n for n in others if n not in POSTGRES_NEEDS]
    unknown = sorted(set(names) - set(NEEDS))
    if unknown:
        raise KeyError(f"unknown needs {', '.join(unknown)} (known: {', '.join(NEEDS)})")
    return [NEEDS[name] for name in dict.fromkeys(names)]


def first_unmet(needs: Iterable[Need], subject: Subject) -> tuple[Need, str] | None:
    """The first need `subject` does not meet and why, or None when it meets them all."""
    for need in needs:
        if (why := need.unmet(subject)) is not None:
            return need, why
    return None
