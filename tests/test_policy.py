"""The policy in force: tighter values are free, a looser one needs a waiver of its requirement."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from support import REFERENCE, reference_variant

from stackproof.catalog import by_id
from stackproof.errors import ProfileError
from stackproof.profile import load_profile
from stackproof.profile.model import Policy
from stackproof.profile.policy import NOT_POLICY_VALUES, POLICY_KEYS, policy_values

FAR = dt.date.today() + dt.timedelta(days=365)
PAST = dt.date.today() - dt.timedelta(days=1)


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    found = set()
    for name, field in model.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            found |= _keys(kind, f"{prefix}{name}.")
        else:
            found.add(f"{prefix}{name}")
    return found


def test_every_policy_value_has_a_requirement_and_a_direction() -> None:
    ruled = [rule.key for rule in POLICY_KEYS]
    assert len(ruled) == len(set(ruled))
    assert set(ruled) | NOT_POLICY_VALUES == _keys(Policy)
    assert all(rule.requirement in by_id() for rule in POLICY_KEYS)
    assert {v.direction for v in policy_values(Policy())} == {"same"}


@pytest.mark.parametrize(
    ("overlay", "key", "direction"),
    [
        pytest.param({"tls": {"protocols": ["TLSv1.1", "TLSv1.2", "TLSv1.3"]}}, "tls.protocols", "looser", id="tls11-allowed"),
        pytest.param({"tls": {"protocols": ["TLSv1.3"]}}, "tls.protocols", "tighter", id="tls13-only"),
        pytest.param({"tls": {"mozilla_profile": "old"}}, "tls.mozilla_profile", "looser", id="mozilla-old"),
        pytest.param({"tls": {"mozilla_profile": "modern"}}, "tls.mozilla_profile", "tighter", id="mozilla-modern"),
        pytest.param({"headers": {"hsts_min_age": 31_536_000}}, "headers.hsts_min_age", "looser", id="hsts-shorter"),
        pytest.param({"headers": {"hsts_include_subdomains": False}}, "headers.hsts_include_subdomains", "looser", id="hsts-no-subdomains"),
        pytest.param({"headers": {"required": {"X-Frame-Options": "DENY"}}}, "headers.required", "looser", id="headers-dropped"),
        pytest.param({"headers": {"required": {**Policy().headers.required, "X-Frame-Options": "SAMEORIGIN"}}}, "headers.required", "looser", id="header-changed"),
        pytest.param({"headers": {"required": {**Policy().headers.required, "Cross-Origin-Opener-Policy": "same-origin"}}}, "headers.required", "tighter", id="header-added"),
        pytest.param({"limits": {"max_body_bytes": 10_485_760}}, "limits.max_body_bytes", "looser", id="body-limit-higher"),
        pytest.param({"limits": {"max_body_bytes": 65536}}, "limits.max_body_bytes", "tighter", id="body-limit-lower"),
        pytest.param({"limits": {"rate_limit_requests": 600}}, "limits.rate_limit_requests", "looser", id="rate-limit-higher"),
        pytest.param({"health": {"detect_within_s": 30}}, "health.detect_within_s", "looser", id="detect-slower"),
        pytest.param({"backup": {"rto_objective_s": 7200}}, "backup.rto_objective_s", "looser", id="rto-longer"),
        pytest.param({"backup": {"drills": 1}}, "backup.drills", "looser", id="fewer-drills"),
        pytest.param({"backup": {"drills": 5}}, "backup.drills", "tighter", id="more-drills"),
        pytest.param({"resilience": {"restart_within_s": 5}}, "resilience.restart_within_s", "tighter", id="restart-faster"),
        pytest.param({"resilience": {"cache_ttl_s": 3600}}, "resilience.cache_ttl_s", "changed", id="ttl-changed"),
    ],
)  # fmt: skip
def test_which_way_a_value_moved(overlay: dict[str, Any], key: str, direction: str) -> None:
    values = {v.key: v for v in policy_values(Policy.model_validate(overlay))}
    assert values[key].direction == direction
    assert {v.direction for k, v in values.items() if k != key} == {"same"}


def test_a_looser_value_without_a_waiver_is_refused_naming_key_catalog_value_and_waiver() -> None:
    with pytest.raises(ProfileError) as refused:
        load_profile(
            REFERENCE, {"policy": {"tls": {"protocols": ["TLSv1.1", "TLSv1.2", "TLSv1.3"]}}}
        )
    message = str(refused.value)
    assert "policy.tls.protocols = ['TLSv1.1', 'TLSv1.2', 'TLSv1.3']" in message
    assert "looser than the catalog's ['TLSv1.2', 'TLSv1.3'] (R-TLS-1)" in message
    assert '[[waivers]] id = "R-TLS-1"' in message


def test_a_looser_value_runs_under_an_active_waiver_and_not_after_it_expires() -> None:
    loosened = {"policy": {"headers": {"hsts_min_age": 31_536_000}}}

    def waiver(expires: dt.date) -> dict[str, Any]:
        return {
            "waivers": [
                {"id": "R-HDR-1", "reason": "preload list entry pending", "expires": expires}
            ]
        }

    profile = load_profile(REFERENCE, loosened, waiver(FAR))
    assert profile.policy.headers.hsts_min_age == 31_536_000
    with pytest.raises(ProfileError, match=r"hsts_min_age = 31536000 .*its waiver expired on"):
        load_profile(REFERENCE, loosened, waiver(PAST))
    with pytest.raises(ProfileError, match="R-HDR-1"):
        load_profile(
            REFERENCE,
            loosened,
            {"waivers": [{"id": "R-TLS-1", "reason": "another requirement's", "expires": FAR}]},
        )


def test_tighter_values_need_no_waiver() -> None:
    profile = load_profile(
        REFERENCE,
        {
            "policy": {
                "limits": {"max_body_bytes": 65536},
                "backup": {"drills": 5},
                "tls": {"min_days_valid": 30},
            }
        },
    )
    assert {v.key for v in policy_values(profile.policy) if v.direction != "same"} == {
        "limits.max_body_bytes", "backup.drills", "tls.min_days_valid",
    }  # fmt: skip


def test_stackproof_check_refuses_a_loosened_profile(tmp_path: Path) -> None:
    variant = reference_variant(tmp_path, {"max_body_bytes = 1048576": "max_body_bytes = 10485760"})
    done = subprocess.run(
        [sys.executable, "-m", "stackproof.cli", "check", f"--profile={variant}", "--backend=process"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "policy.limits.max_body_bytes = 10485760 is looser than the catalog's 1048576 (R-TLS-7)"
        in done.stderr
    )
    assert '[[waivers]] id = "R-TLS-7"' in done.stderr
