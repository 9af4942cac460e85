"""Verdicts per requirement, and the reports written from them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import REFERENCE as REFERENCE_PROFILE

from stackproof.catalog import catalog
from stackproof.profile import load_profile
from stackproof.profile.model import Waiver
from stackproof.profile.policy import policy_values
from stackproof.pytest_plugin.summary import verdict_table
from stackproof.results.model import (
    EvidenceItem,
    Figure,
    RunInfo,
    StackFailureInfo,
    TestResult,
    Timeline,
)
from stackproof.results.verdicts import (
    build_results,
    failures_all_waived,
    requirement_verdict,
    run_exit_status,
)
from stackproof.results.write import headline, write_reports
from stackproof.run import SecretRegistry

RUN = RunInfo(
    id="r1", started="s", finished="f", duration_s=1.0, backend="process", backend_reason="test",
    profile="p", profile_path="p.toml", environment="test", stackproof_version="0", python="3",
    exit_status=1,
)  # fmt: skip


def result(nodeid: str, outcome: str, *ids: str, message: str | None = None) -> TestResult:
    return TestResult(nodeid, ids, outcome, 0.1, message)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcomes", "verdict"),
    [
        ([], "not_covered"),
        (["pass"], "pass"),
        (["pass", "pass"], "pass"),
        (["pass", "skip"], "partial"),
        (["skip"], "skip"),
        (["skip", "skip"], "skip"),
        (["pass", "error"], "error"),
        (["pass", "skip", "error"], "error"),
        (["error", "fail", "pass"], "fail"),
        (["skip", "fail"], "fail"),
    ],
)
def test_verdict_precedence(outcomes: list[str], verdict: str) -> None:
    assert requirement_verdict(outcomes) == verdict  # type: ignore[arg-type]


def test_every_catalog_id_appears_and_waivers_apply_until_they_expire() -> None:
    tests = [
        result("tls/t.py::a", "fail", "R-TLS-1"),
        result("tls/t.py::b", "fail", "R-TLS-2"),
        result("tls/t.py::c", "pass", "R-TLS-3"),
    ]
    waivers = [
        Waiver(
            id="R-TLS-1", reason="legacy clients until the migration", expires=dt.date(2026, 12, 1)
        ),
        Waiver(
            id="R-TLS-2", reason="legacy clients until the migration", expires=dt.date(2026, 1, 1)
        ),
    ]
    results = build_results(RUN, tests, catalog(), waivers, today=dt.date(2026, 11, 23))
    verdicts = {r.id: r.verdict for r in results.requirements}
    assert list(verdicts) == [r.id for r in catalog()]
    assert verdicts["R-TLS-1"] == "waived"
    assert verdicts["R-TLS-2"] == "fail", "an expired waiver waives nothing"
    assert verdicts["R-TLS-3"] == "pass"
    assert verdicts["R-HOST-1"] == "not_covered"
    assert not failures_all_waived(results, tests)
    assert failures_all_waived(results, tests[:1])


def test_a_figure_knows_whether_it_meets_its_objective() -> None:
    assert Figure("detect", 1.2, "s", 5.0, "<=").meets_objective is True
    assert Figure("days", 3.0, "days", 14.0, ">=").meets_objective is False
    assert Figure("rate", 3.0, "MB/s").meets_objective is None
    with pytest.raises(ValueError, match="objective needs a comparison"):
        Figure("x", 1.0, "s", 2.0)


def test_a_figure_tells_its_margin_and_the_share_of_its_objective_it_uses() -> None:
    assert Figure("detect", 1.25, "s", 5.0, "<=").margin == 3.75
    assert Figure("detect", 1.25, "s", 5.0, "<=").share_of_objective == 0.25
    assert Figure("days", 7.0, "days", 14.0, ">=").margin == -7.0
    assert Figure("days", 7.0, "days", 14.0, ">=").share_of_objective == 2.0  # missed
    assert Figure("rate", 3.0, "MB/s").margin is None


def test_figures_are_grouped_by_requirement_and_only_objectives_are_charted(
    tmp_path: Path,
) -> None:
    long_name = "readiness_detects_latency_on_bot_postgres_after_removal_s"
    tests = [
        TestResult("health/test_h.py::test_a", ("R-HLT-3",), "pass", 0.5, None, (), (
            Figure(long_name, 0.4, "s", 5.0, "<=", "health/test_h.py::test_a"),
            Figure("restarts_seen", 0.0, "restarts", None, None, "health/test_h.py::test_a"),
        )),
        TestResult("backup/test_b.py::test_b", ("R-BAK-4",), "fail", 0.5, "slow", (), (
            Figure("rto_p95_s", 2400.0, "s", 1800.0, "<=", "backup/test_b.py::test_b"),
        )),
    ]  # fmt: skip
    write_reports(build_results(RUN, tests, catalog()), tests, tmp_path / "r", SecretRegistry())
    html = (tmp_path / "r" / "report.html").read_text("utf-8")
    section = html.split("<h2>Figures</h2>")[1].split("<h2>")[0]
    table = section.split('<table class="figures">')[1]
    assert table.index("R-HLT-3") < table.index(long_name) < table.index("R-BAK-4")
    assert "+4.6 s" in table  # the margin of a met objective
    assert "-600 s" in table  # and of a missed one
    chart = section.split("<svg")[1].split("</svg>")[0]
    assert long_name in chart  # whole: the label column is as wide as the longest label
    assert "restarts_seen" not in chart  # no objective: nothing to compare it with
    assert "133 %" in chart
    assert "8 %" in chart


def test_reports_are_written_scrubbed_and_linked(tmp_path: Path) -> None:
    secrets = SecretRegistry()
    password = secrets.generate("postgres.password")
    tests = [
        TestResult(
            "health/test_h.py::test_x", ("R-HLT-2",), "fail", 0.5,
            f"readiness said postgresql://stack:{password}@127.0.0.1/stack",
            (EvidenceItem("body", {"text": password}, "health/test_h.py::test_x"),),
            (Figure("detect_s", 0.4, "s", 5.0, "<=", "health/test_h.py::test_x"),),
        ),
        result("tls/test_t.py::test_y", "pass", "R-TLS-1"),
        result("tls/test_t.py::test_z", "skip", "R-TLS-2", message="no plain HTTP"),
    ]  # fmt: skip
    run_dir = tmp_path / "r1"
    written = write_reports(build_results(RUN, tests, catalog()), tests, run_dir, secrets)
    assert written.run.redacted_secrets == ("postgres.password",)
    for name in ("results.json", "junit.xml", "report.html"):
        text = (run_dir / name).read_text("utf-8")
        assert password not in text, name
    document = json.loads((run_dir / "results.json").read_text("utf-8"))
    assert document["schema"] == "stackproof.results/2"
    assert document["summary"]["fail"] == 1
    assert document["summary"]["pass"] == 1
    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert (junit.get("tests"), junit.get("failures"), junit.get("skipped")) == ("3", "1", "1")
    html = (run_dir / "report.html").read_text("utf-8")
    assert "[secret:postgres.password]" in html
    assert "<svg" in html
    assert (tmp_path / "latest").resolve() == run_dir.resolve()
    assert headline(written).startswith("FAIL")


def test_fault_timelines_reach_results_json_and_a_chart(tmp_path: Path) -> None:
    timelines = (
        Timeline(
            "down", "bot-postgres", "bot", 0.21, 0.25, 0.3, 5.0, 5.0,
            ((0.1, 200), (0.21, 503), (0.35, 200)), "chaos/test_c.py::test_t",
        ),
        Timeline("pause (SIGSTOP)", "bot", "bot", None, 5.0, None, 5.0, 5.0, ((5.0, None),)),
    )  # fmt: skip
    tests = [
        TestResult(
            "chaos/test_c.py::test_t", ("R-HLT-3", "R-RES-5"), "fail", 1.0, timelines=timelines
        )
    ]
    write_reports(build_results(RUN, tests, catalog()), tests, tmp_path / "r1", SecretRegistry())
    document = json.loads((tmp_path / "r1" / "results.json").read_text("utf-8"))
    by_id = {r["id"]: r for r in document["requirements"]}
    written = by_id["R-HLT-3"]["timelines"]
    assert [t["fault"] for t in written] == ["down", "pause (SIGSTOP)"]
    assert written[0]["detected_s"] == 0.21
    assert written[0]["samples"] == [[0.1, 200], [0.21, 503], [0.35, 200]]
    html = (tmp_path / "r1" / "report.html").read_text("utf-8")
    chart = html.split("<h2>Fault timelines</h2>")[1].split("</svg>")[0]
    assert chart.count("down on bot-postgres → bot") == 1  # named by two requirements, drawn once
    assert "detected after 0.21 s" in chart
    assert "NOT DETECTED" in html
    assert "<script" not in html


def test_partial_lists_what_was_not_tested_and_why(tmp_path: Path) -> None:
    tests = [
        result("health/t.py::up", "pass", "R-HLT-2"),
        result("health/t.py::down", "skip", "R-HLT-2", message="nothing to check: no hard dependency"),
        result("health/t.py::live", "skip", "R-HLT-1", message="no liveness endpoint"),
    ]  # fmt: skip
    results = build_results(RUN, tests, catalog())
    by_id = {r.id: r for r in results.requirements}
    assert by_id["R-HLT-2"].verdict == "partial"
    assert [(u.nodeid, u.reason) for u in by_id["R-HLT-2"].untested] == [
        ("health/t.py::down", "nothing to check: no hard dependency")
    ]
    assert by_id["R-HLT-1"].verdict == "skip"
    assert results.summary()["partial"] == 1
    assert headline(results).startswith("PASS, NOT ALL TESTED — 1 partly tested, 1 skipped")
    write_reports(results, tests, tmp_path / "r1", SecretRegistry())
    document = json.loads((tmp_path / "r1" / "results.json").read_text("utf-8"))
    written = {r["id"]: r for r in document["requirements"]}["R-HLT-2"]
    assert written["verdict"] == "partial"
    assert written["untested"] == [
        {"nodeid": "health/t.py::down", "reason": "nothing to check: no hard dependency"}
    ]
    html = (tmp_path / "r1" / "report.html").read_text("utf-8")
    untested = html.split('<h2 id="untested">')[1].split("</table>")[0]
    assert "nothing to check: no hard dependency" in untested
    assert "no liveness endpoint" in untested
    junit = ET.parse(tmp_path / "r1" / "junit.xml").getroot()
    assert (junit.get("tests"), junit.get("skipped")) == ("3", "2"), "one testcase per test"


def strict_run(selected: tuple[str, ...] = ()) -> RunInfo:
    return dataclasses.replace(RUN, strict=True, selected=selected)


@pytest.mark.parametrize(
    ("outcomes", "strict", "selected", "status"),
    [
        pytest.param({"R-TLS-1": "pass"}, False, (), 0, id="pass-not-strict"),
        pytest.param({"R-TLS-1": "pass"}, True, (), 1, id="strict-counts-the-uncovered"),
        pytest.param({"R-TLS-1": "pass"}, True, ("R-TLS-1",), 0, id="strict-chosen-pass"),
        pytest.param(
            {"R-TLS-1": "pass", "R-TLS-2": "skip"}, False, ("R-TLS-1", "R-TLS-2"), 0,
            id="skip-not-strict",
        ),
        pytest.param(
            {"R-TLS-1": "pass", "R-TLS-2": "skip"}, True, ("R-TLS-1", "R-TLS-2"), 1,
            id="strict-skip",
        ),
        pytest.param({"R-TLS-1": "pass"}, True, ("R-TLS-1", "R-TLS-2"), 1, id="strict-not-covered"),
        pytest.param({"R-TLS-1": ["pass", "skip"]}, True, ("R-TLS-1",), 1, id="strict-partial"),
        pytest.param({"R-TLS-1": ["pass", "skip"]}, False, ("R-TLS-1",), 0, id="partial-not-strict"),
    ],
)  # fmt: skip
def test_strict_fails_the_run_on_what_is_not_proven(
    outcomes: dict[str, str | list[str]], strict: bool, selected: tuple[str, ...], status: int
) -> None:
    tests = []
    for requirement, said in outcomes.items():
        for index, outcome in enumerate([said] if isinstance(said, str) else said):
            tests.append(result(f"t.py::{requirement}-{index}", outcome, requirement))
    run = dataclasses.replace(RUN, strict=strict, selected=selected)
    results = build_results(run, tests, catalog())
    assert run_exit_status(results, tests, 0) == status
    if status:
        assert headline(results).startswith("FAIL (--strict)")


def test_exit_status_keeps_failures_and_forgives_only_waived_ones() -> None:
    failed = [result("t.py::a", "fail", "R-TLS-1")]
    results = build_results(RUN, failed, catalog())
    assert run_exit_status(results, failed, 1) == 1
    waiver = Waiver(id="R-TLS-1", reason="legacy clients until March", expires=dt.date(2099, 1, 1))
    waived = build_results(RUN, failed, catalog(), [waiver])
    assert run_exit_status(waived, failed, 1) == 0
    assert (
        run_exit_status(build_results(strict_run(("R-TLS-1",)), failed, catalog()), failed, 2) == 2
    )


def test_a_broken_stack_is_told_once_at_the_top(tmp_path: Path) -> None:
    failure = StackFailureInfo(
        "main", "nginx", 1, "exited with code 1",
        "bind() to 127.0.0.1:41491 failed (98: Address in use)",
    )  # fmt: skip
    said = f"{failure.headline()} (see the top of the report)"
    tests = [
        result("headers/t.py::a", "error", "R-HDR-1", message=said),
        result("headers/t.py::b", "error", "R-HDR-2", message=said),
    ]
    run = dataclasses.replace(RUN, stack_failures=(failure,))
    write_reports(build_results(run, tests, catalog()), tests, tmp_path / "r1", SecretRegistry())
    document = json.loads((tmp_path / "r1" / "results.json").read_text("utf-8"))
    assert document["run"]["stack_failures"] == [
        {
            "label": "main", "service": "nginx", "exit_status": 1,
            "detail": "exited with code 1",
            "log_tail": "bind() to 127.0.0.1:41491 failed (98: Address in use)",
        }
    ]  # fmt: skip
    html = (tmp_path / "r1" / "report.html").read_text("utf-8")
    assert html.count("Address in use") == 1, "the log tail once, not per test"
    assert html.index("Address in use") < html.index("Verdicts by requirement")
    lines = verdict_table(build_results(run, tests, catalog()))
    assert lines[0] == "STACK BROKEN — stack 'main' broken: service 'nginx' exited with code 1"
    assert sum("Address in use" in line for line in lines) == 1


def test_the_policy_in_force_is_on_record(tmp_path: Path) -> None:
    waiver = Waiver(id="R-HDR-1", reason="preload list entry pending", expires=dt.date(2099, 1, 1))
    profile = load_profile(
        REFERENCE_PROFILE,
        {
            "policy": {
                "headers": {"hsts_min_age": 31_536_000},
                "limits": {"max_body_bytes": 65536},
            },
            "waivers": [waiver.model_dump()],
        },
    )
    tests = [
        result("headers/t.py::hsts", "pass", "R-HDR-1"),
        result("tls/t.py::body", "pass", "R-TLS-7"),
    ]
    values = policy_values(profile.policy)
    results = build_results(RUN, tests, catalog(), profile.waivers, policy=values)
    by_id = {r.id: r for r in results.requirements}
    assert by_id["R-HDR-1"].verdict == "waived", "passed against a looser value than the catalog's"
    assert by_id["R-HDR-1"].loosened == ("headers.hsts_min_age",)
    assert by_id["R-TLS-7"].verdict == "pass", "a tighter value needs no waiver"
    write_reports(results, tests, tmp_path / "r1", SecretRegistry())
    document = json.loads((tmp_path / "r1" / "results.json").read_text("utf-8"))
    records = {p["key"]: p for p in document["policy"]}
    assert len(records) == len(values)
    assert records["headers.hsts_min_age"] == {
        "key": "headers.hsts_min_age", "requirement": "R-HDR-1", "catalog": 63_072_000,
        "used": 31_536_000, "direction": "looser",
        "waiver": {"reason": "preload list entry pending", "expires": "2099-01-01", "active": True},
    }  # fmt: skip
    assert records["limits.max_body_bytes"]["direction"] == "tighter"
    assert records["tls.protocols"]["direction"] == "same"
    html = (tmp_path / "r1" / "report.html").read_text("utf-8")
    changes = html.split('<h2 id="policy">')[1].split("<details>")[0]
    assert "policy.headers.hsts_min_age" in changes
    assert "preload list entry pending" in changes
    assert "policy.limits.max_body_bytes" in changes
    assert "policy.tls.protocols" not in changes, "only what differs from the catalog"
