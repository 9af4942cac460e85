"""The drill machinery's parts: percentiles, start order, charts, the control protocol,
and the profile sections the rollback and backup suites read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import REFERENCE, reference_variant

from stackproof.backends.base import LifecycleEvent
from stackproof.backends.process.control import parse_request
from stackproof.drills.startorder import start_order_problems
from stackproof.drills.stats import percentile, summary
from stackproof.errors import ProfileError
from stackproof.profile import load_profile
from stackproof.results.drill_charts import (
    Lane,
    Mark,
    Span,
    chart_from_payload,
    distribution_payload,
    timeline_payload,
)


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0], 95) == pytest.approx(2.9)
    assert summary([5.0, 1.0, 3.0]) == {"p50": 3.0, "p95": pytest.approx(4.8), "max": 5.0}
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def _event(service: str, kind: str, at: float) -> LifecycleEvent:
    return LifecycleEvent(service, kind, at)  # type: ignore[arg-type]


def test_start_order_accepts_waves_and_names_a_start_before_a_dependency_is_ready() -> None:
    dependencies = {"bot": ["postgres"], "postgres": []}
    good = [
        _event("postgres", "spawn", 0),
        _event("postgres", "ready", 1),
        _event("bot", "spawn", 2),
    ]
    assert start_order_problems(good, dependencies) == []
    early = [
        _event("postgres", "spawn", 0),
        _event("bot", "spawn", 0.5),
        _event("postgres", "ready", 1),
    ]
    assert start_order_problems(early, dependencies) == [
        "bot started (by the harness) while postgres, a dependency, was not ready"
    ]
    stopped = [*good, _event("postgres", "stop", 3), _event("bot", "spawn", 4)]
    assert len(start_order_problems(stopped, dependencies)) == 1


def test_charts_are_inline_svg_without_scripts_and_survive_odd_payloads() -> None:
    timeline = timeline_payload(
        "deploy <of> bot",
        [
            Lane(
                "script",
                (Span(0, 5, "health", "info"), Span(5, 6, "rollback", "bad")),
                (Mark(5, "x"),),
            )
        ],
    )
    svg = chart_from_payload(timeline)
    assert svg.startswith("<svg")
    assert "<script" not in svg
    assert "deploy &lt;of&gt; bot" in svg
    distribution = distribution_payload("RTO", "s", [("drill 1", 3.0), ("drill 2", 4.5)], 1800.0,
                                        summary([3.0, 4.5]))  # fmt: skip
    svg = chart_from_payload(distribution)
    assert "objective 1800 s" in svg
    assert "p95" in svg
    assert chart_from_payload({"chart": "timeline", "lanes": "nonsense"}) == ""
    assert chart_from_payload({"not": "a chart"}) == ""
    assert chart_from_payload("text") == ""


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"action": "restart", "service": "bot"}', ("restart", ("bot",), False)),
        (
            b'{"action": "start", "service": ["auth", "bot"], "wait": true}',
            ("start", ("auth", "bot"), True),
        ),
    ],
)
def test_control_requests_parse(line: bytes, expected: tuple[str, tuple[str, ...], bool]) -> None:
    assert parse_request(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"restart bot", "one JSON object"),
        (b"[1]", "one JSON object"),
        (b'{"action": "rm -rf", "service": "bot"}', "action must be one of"),
        (b'{"action": "stop"}', "service must name"),
        (b'{"action": "stop", "service": []}', "service must name"),
        (b'{"action": "stop", "service": ["bot", 3]}', "service must name"),
    ],
)
def test_bad_control_requests_say_what_is_wrong(line: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_request(line)


def test_the_reference_profile_spells_out_the_catalog_objectives() -> None:
    profile = load_profile(REFERENCE)
    assert profile.policy.deploy.health_interval_s == 5
    assert profile.policy.deploy.health_deadline_s == 60
    assert profile.policy.backup.retention_days == 7
    assert profile.policy.backup.rto_objective_s == 1800
    assert profile.policy.backup.rpo_objective_s == 86400
    assert profile.ops is not None
    assert profile.ops.deploy_services == ["bot"]
    assert profile.canary is not None
    assert profile.backup_database() == "postgres"


@pytest.mark.parametrize(
    ("replacements", "expected"),
    [
        pytest.param({"health_interval_s = 5": "health_interval_s = 90"},
                     "health_interval_s (90) exceeds health_deadline_s (60)", id="interval"),
        pytest.param({'deploy_services = ["bot"]': 'deploy_services = ["redis"]'},
                     "ops.deploy_services: 'redis' is not an app service", id="deploy-service"),
        pytest.param({'token_secret = "canary_token"': 'token_secret = "canary"'},
                     "canary.token_secret: 'canary' is not one of secrets", id="token"),
        pytest.param({'table = "bot.drill_canary"': 'table = "drill_canary"'},
                     "canary.table", id="table"),
        pytest.param({"drills = 3": "drills = 0"}, "policy.backup.drills", id="drills"),
    ],
)  # fmt: skip
def test_invalid_drill_settings_name_the_key(
    tmp_path: Path, replacements: dict[str, str], expected: str
) -> None:
    with pytest.raises(ProfileError, match=re.escape(expected)):
        load_profile(reference_variant(tmp_path, replacements))
