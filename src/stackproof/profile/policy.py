"""The policy in force: each value against the catalog's, and which way it moved.

Every value under `[policy]` belongs to one requirement and has a direction in which it is
tighter. A profile may tighten values freely; loosening one (TLS 1.1 allowed, a shorter HSTS
max-age, a higher body limit, longer objectives, fewer drills) holds the stack to less than
the catalog asks, so it needs an active waiver of that requirement, with a reason and an
expiry date. `Policy()`'s defaults are the catalog's values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from stackproof.checks import csp

Direction = Literal["same", "tighter", "looser", "changed"]
Compare = Callable[[Any, Any], Direction]  # (catalog value, used value)


def at_most(catalog: Any, used: Any) -> Direction:
    """A ceiling (a limit, an objective, a budget): lower is tighter."""
    if used == catalog:
        return "same"
    return "tighter" if used < catalog else "looser"


def at_least(catalog: Any, used: Any) -> Direction:
    """A floor (a minimum age, a number of drills): higher is tighter."""
    if used == catalog:
        return "same"
    return "tighter" if used > catalog else "looser"


def exact(catalog: Any, used: Any) -> Direction:
    """A value with no better side (a name, a TTL the catalog fixes)."""
    return "same" if used == catalog else "changed"


def allowed(catalog: Sequence[Any], used: Sequence[Any]) -> Direction:
    """What may be accepted (protocol versions): anything beyond the catalog's is looser."""
    mine, theirs = set(used), set(catalog)
    if mine == theirs:
        return "same"
    return "tighter" if mine < theirs else "looser"


def demanded(catalog: Mapping[str, Any], used: Mapping[str, Any]) -> Direction:
    """Values that must be present as given (headers): one dropped or changed is looser."""
    if dict(used) == dict(catalog):
        return "same"
    if all(used.get(name) == value for name, value in catalog.items()):
        return "tighter"  # the catalog's, and more
    return "looser"


def no_laxer_csp(catalog: str, used: str) -> Direction:
    """A Content-Security-Policy: anything that permits less than the catalog's is tighter."""
    if used == catalog:
        return "same"
    return "looser" if csp.policy_problems([used], csp.parse_policy(catalog)) else "tighter"


def ranked(*tightest_first: str) -> Compare:
    def compare(catalog: Any, used: Any) -> Direction:
        if used == catalog:
            return "same"
        rank = tightest_first.index
        return "tighter" if rank(used) < rank(catalog) else "looser"

    return compare


@dataclass(frozen=True, slots=True)
class PolicyKey:
    key: str  # section.field under [policy]
    requirement: str
    compare: Compare


# Every policy value, the requirement it belongs to, and how to tell tighter from looser.
# (`tls.ca_bundle` is where trust comes from, not a value a requirement sets.)
POLICY_KEYS: tuple[PolicyKey, ...] = (
    PolicyKey("tls.mozilla_profile", "R-TLS-3", ranked("modern", "intermediate", "old")),
    PolicyKey("tls.protocols", "R-TLS-1", allowed),
    PolicyKey("tls.min_days_valid", "R-TLS-6", at_least),
    PolicyKey("headers.hsts_min_age", "R-HDR-1", at_least),
    PolicyKey("headers.hsts_include_subdomains", "R-HDR-1", at_least),  # True > False
    PolicyKey("headers.required", "R-HDR-2", demanded),
    PolicyKey("headers.request_id", "R-HDR-5", exact),
    PolicyKey("headers.foreign_origin", "R-HDR-4", exact),
    PolicyKey("headers.content_security_policy", "R-HDR-6", no_laxer_csp),
    PolicyKey("limits.max_body_bytes", "R-TLS-7", at_most),
    PolicyKey("limits.rate_limit_requests", "R-RL-1", at_most),
    PolicyKey("limits.rate_limit_window_s", "R-RL-1", at_least),
    PolicyKey("health.liveness_within_s", "R-HLT-1", at_most),
    PolicyKey("health.detect_within_s", "R-HLT-3", at_most),
    PolicyKey("health.recover_within_s", "R-HLT-3", at_most),
    PolicyKey("health.poll_interval_s", "R-HLT-3", at_most),  # coarser looks see less
    PolicyKey("health.slow_dependency_ms", "R-HLT-4", at_least),
    PolicyKey("health.slow_readiness_within_s", "R-HLT-4", at_most),
    PolicyKey("deploy.health_interval_s", "R-DEP-1", at_most),
    PolicyKey("deploy.health_deadline_s", "R-DEP-1", at_most),
    PolicyKey("deploy.outage_budget_s", "R-DEP-2", at_most),
    PolicyKey("backup.retention_days", "R-BAK-2", at_least),
    PolicyKey("backup.rto_objective_s", "R-BAK-4", at_most),
    PolicyKey("backup.rpo_objective_s", "R-BAK-5", at_most),
    PolicyKey("backup.drills", "R-BAK-4", at_least),
    PolicyKey("backup.canary_rate_per_s", "R-BAK-5", at_least),
    PolicyKey("backup.canary_writes_before_backup", "R-BAK-5", at_least),
    PolicyKey("backup.canary_writes_after_backup", "R-BAK-5", at_least),
    PolicyKey("resilience.cache_ttl_s", "R-RES-1", exact),
    PolicyKey("resilience.db_latency_ms", "R-RES-4", at_least),
    PolicyKey("resilience.answer_within_s", "R-RES-4", at_most),
    PolicyKey("resilience.restart_within_s", "R-RES-5", at_most),
    PolicyKey("resilience.writes_land_within_s", "R-RES-3", at_most),
)
NOT_POLICY_VALUES = frozenset({"tls.ca_bundle"})


@dataclass(frozen=True, slots=True)
class PolicyValue:
    key: str
    requirement: str
    catalog: Any
    used: Any
    direction: Direction

    def describe(self) -> str:
        return (
            f"policy.{self.key} = {self.used!r} is {self.direction} than the catalog's "
            f"{self.catalog!r} ({self.requirement})"
        )


def _value(section: BaseModel, key: str) -> Any:
    found: Any = section
    for part in key.split("."):
        found = getattr(found, part)
    return found.model_dump(mode="json") if isinstance(found, BaseModel) else found


def policy_values(policy: BaseModel) -> list[PolicyValue]:
    """Every policy value in force beside the catalog's (the model's defaults)."""
    catalog = type(policy)()
    values = []
    for rule in POLICY_KEYS:
        theirs, mine = _value(catalog, rule.key), _value(policy, rule.key)
        values.append(
            PolicyValue(rule.key, rule.requirement, theirs, mine, rule.compare(theirs, mine))
        )
    return values


def waiver_hint(requirement: str) -> str:
    return (
        f'a looser value needs a waiver: [[waivers]] id = "{requirement}", '
        'reason = "why", expires = YYYY-MM-DD'
    )
