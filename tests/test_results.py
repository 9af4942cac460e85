"""Verdicts per requirement, and the reports written from them."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stackproof.catalog import catalog
from stackproof.profile.model import Waiver
from stackproof.results.model import EvidenceItem, Figure, RunInfo, TestResult, Timeline
from stackproof.results.verdicts import build_results, failures_all_waived, requirement_verdict
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
        (["pass", "skip"], "pass"),
        (["skip"], "skip"),
        (["pass", "error"], "error"),
        (["error", "fail", "pass"], "fail"),
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
    assert document["schema"] == "stackproof.results/1"
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
