"""The reference stack passes every check of the suites, and the run reports it properly."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support import (
    REFERENCE,
    RUN_TIMEOUT_S,
    SuiteRun,
    plan_disagreements,
    run_suites,
    suites_command,
)

from stackproof.catalog import catalog

pytestmark = pytest.mark.stack

FOUNDATION_SUITES = {"tls", "headers", "health"}
CHAOS_REQUIREMENTS = {
    "R-HLT-3", "R-HLT-4", "R-HLT-5", "R-HLT-7",
    "R-RES-1", "R-RES-2", "R-RES-3", "R-RES-4", "R-RES-5",
}  # fmt: skip
AUTH_REQUIREMENTS = {
    "R-AUTH-1", "R-AUTH-2", "R-RL-1", "R-RL-2", "R-SIG-1", "R-SIG-2",
    "R-OAUTH-1", "R-OAUTH-2", "R-OAUTH-3",
}  # fmt: skip


# Checks the reference stack gives nothing to judge: they skip, saying so, never pass.
NOTHING_TO_CHECK = {"R-HDR-7": "set a cookie"}  # it sets no cookie (see mutants/cookie-*)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    reports = tmp_path_factory.mktemp("reports")
    return run_suites(reports, f"--profile={REFERENCE}", "--backend=process")


# The host suite judges the host a stack runs on; a stack of local processes has none here
# (its host is this machine, not a server): those skip, naming the remote backend.
HOST_ONLY = {"R-HOST-1", "R-HOST-2", "R-HOST-3", "R-HOST-4", "R-HOST-5", "R-HOST-6", "R-TLS-8"}


def test_exits_zero_with_every_covered_requirement_passing(reference_run: SuiteRun) -> None:
    covered = reference_run.covered()
    assert reference_run.exit_code == 0, reference_run.output[-4000:]
    assert covered, "the run covered nothing"
    judged = {i: v for i, v in covered.items() if i not in HOST_ONLY}
    assert {i: v for i, v in judged.items() if v != "pass" and i not in NOTHING_TO_CHECK} == {}
    for requirement in reference_run.results["requirements"]:
        if (words := NOTHING_TO_CHECK.get(requirement["id"])) is not None:
            assert requirement["verdict"] == "skip", requirement
            assert all(words in (t["message"] or "") for t in requirement["tests"]), requirement


def test_host_requirements_skip_on_local_processes_naming_what_enables_them(
    reference_run: SuiteRun,
) -> None:
    host = [r for r in reference_run.results["requirements"] if r["id"] in HOST_ONLY]
    assert {r["id"]: r["verdict"] for r in host} == dict.fromkeys(HOST_ONLY, "skip")
    for requirement in host:
        for test in requirement["tests"]:
            assert "remote.ssh" in (test["message"] or ""), test


def test_the_run_skipped_what_the_plan_said_and_nothing_else(reference_run: SuiteRun) -> None:
    cookies = "headers/test_headers.py::test_every_cookie_set_is_secure_httponly_and_same_site"
    found = plan_disagreements(
        reference_run, f"--profile={REFERENCE}", "--backend=process", runtime=frozenset({cookies})
    )
    assert found == []


def test_covers_every_requirement_of_the_foundation_suites(reference_run: SuiteRun) -> None:
    expected = {
        "R-TLS-1", "R-TLS-2", "R-TLS-3", "R-TLS-4", "R-TLS-5", "R-TLS-6", "R-TLS-7",
        "R-HDR-1", "R-HDR-2", "R-HDR-3", "R-HDR-4", "R-HDR-5", "R-HDR-6", "R-HDR-7",
        "R-HLT-1", "R-HLT-2", "R-HLT-3", "R-HLT-6",
    }  # fmt: skip
    assert expected <= set(reference_run.covered())


def test_redaction_requirements_pass_and_the_report_holds_no_canary(
    reference_run: SuiteRun,
) -> None:
    redaction = {f"R-RED-{n}" for n in range(1, 5)}
    assert {i: v for i, v in reference_run.covered().items() if i in redaction} == dict.fromkeys(
        sorted(redaction), "pass"
    )
    # The plugin scans the written report files for every canary of the run (R-RED-3).
    assert "SECRET IN THE REPORT FILES" not in reference_run.output


def test_covers_the_auth_requirements(reference_run: SuiteRun) -> None:
    verdicts = reference_run.verdicts()
    assert {i: verdicts[i] for i in AUTH_REQUIREMENTS} == dict.fromkeys(AUTH_REQUIREMENTS, "pass")
    figures = {
        f["name"]: f["value"]
        for r in reference_run.results["requirements"]
        if r["id"] in ("R-RL-1", "R-OAUTH-2")
        for f in r["figures"]
    }
    assert figures["requests_allowed"] == 60
    assert 0 < figures["state_lifetime_s"] <= 300


def test_results_list_every_catalog_id_in_order(reference_run: SuiteRun) -> None:
    results = reference_run.results
    assert [r["id"] for r in results["requirements"]] == [r.id for r in catalog()]
    run = results["run"]
    for key in (
        "id",
        "started",
        "finished",
        "backend",
        "backend_reason",
        "profile",
        "stackproof_version",
    ):
        assert run[key], key
    assert run["backend"] == "process"
    assert run["redacted_secrets"] == [], "a secret reached the report and had to be scrubbed"
    for requirement in results["requirements"]:
        assert requirement["verdict"] in (
            "pass", "fail", "error", "partial", "skip", "waived", "not_covered",
        )  # fmt: skip
        assert set(requirement) >= {"id", "title", "verdict", "tests", "evidence", "figures"}


def test_figures_hold_against_their_objectives(reference_run: SuiteRun) -> None:
    figures = [f for r in reference_run.results["requirements"] for f in r["figures"]]
    names = {f["name"] for f in figures}
    assert any(n.endswith("_detects_postgres_down_s") for n in names)
    assert any(n.endswith("_recovers_from_postgres_s") for n in names)
    for figure in figures:
        if figure["objective"] is not None:
            comparison = (
                figure["value"] <= figure["objective"]
                if figure["comparison"] == "<="
                else figure["value"] >= figure["objective"]
            )
            assert comparison, figure


def test_junit_html_and_latest_link(reference_run: SuiteRun) -> None:
    junit = ET.parse(reference_run.run_dir / "junit.xml").getroot()
    cases = junit.findall(".//testcase")
    assert cases
    assert all(c.find("properties/property[@name='requirement']") is not None for c in cases)
    assert junit.get("failures") == "0"
    assert junit.get("errors") == "0"
    html = (reference_run.run_dir / "report.html").read_text("utf-8")
    assert "PASS" in html
    assert "R-TLS-1" in html
    assert "<svg" in html
    assert "<script" not in html
    assert "http://" not in html.split("<body>")[0]
    latest = reference_run.run_dir.parent / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == reference_run.run_dir.resolve()


def test_service_logs_are_kept_with_the_report(reference_run: SuiteRun) -> None:
    logs = reference_run.run_dir / "logs"
    assert {p.name for p in logs.glob("*.log")} >= {
        "postgres.log",
        "redis.log",
        "auth.log",
        "bot.log",
        "nginx.access.log",
    }
    own_stacks = [p for p in logs.iterdir() if p.is_dir()]
    assert own_stacks, "destructive tests keep their stacks' logs in subfolders"


def test_drills_cover_deploy_and_backup_with_rto_and_rpo_figures(reference_run: SuiteRun) -> None:
    drills = {f"R-DEP-{n}" for n in range(1, 5)} | {f"R-BAK-{n}" for n in range(1, 6)}
    assert drills | {"R-SEC-1"} <= set(reference_run.covered())
    figures = {
        f["name"]: f
        for r in reference_run.results["requirements"]
        if r["id"] in ("R-BAK-4", "R-BAK-5")
        for f in r["figures"]
    }
    for measure, objective in (("rto", 1800.0), ("rpo", 86400.0)):
        for statistic in ("p50", "p95", "max"):
            figure = figures[f"{measure}_{statistic}_s"]
            assert figure["objective"] == objective
            assert 0 < figure["value"] <= objective
        assert f"{measure}_drill_1_s" in figures
    html = (reference_run.run_dir / "report.html").read_text("utf-8")
    assert "Drills: timelines and distributions" in html
    assert "RTO over 3 restore drill(s)" in html
    assert "RPO over 3 restore drill(s)" in html
    assert "restore drill 1" in html
    assert "deploy of a crashing bot release, rolled back" in html


def test_the_default_relative_reports_folder_works(tmp_path: Path) -> None:
    """The README's command gives no --reports-dir: `reports` relative to where it runs."""
    done = subprocess.run(
        suites_command(f"--profile={REFERENCE}", "-k", "redirect"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "reports" / "latest" / "results.json").exists()


def test_covers_the_fault_driven_requirements(reference_run: SuiteRun) -> None:
    verdicts = reference_run.verdicts()
    assert {i: verdicts[i] for i in CHAOS_REQUIREMENTS} == dict.fromkeys(CHAOS_REQUIREMENTS, "pass")
    ran = [t["nodeid"] for r in reference_run.results["requirements"] for t in r["tests"]]
    assert any("test_a_partitioned_database" in n for n in ran), "the partition check did not run"


def test_fault_timelines_are_reported(reference_run: SuiteRun) -> None:
    by_id = {r["id"]: r for r in reference_run.results["requirements"]}
    timelines = [t for i in ("R-HLT-3", "R-RES-5") for t in by_id[i]["timelines"]]
    faults = {t["fault"] for t in timelines}
    assert {"down", "black hole", "reset", "kill (SIGKILL)", "pause (SIGSTOP)"} <= faults
    for timeline in timelines:
        assert timeline["detected_s"] is not None, timeline
        assert timeline["recovered_s"] is not None, timeline
        assert timeline["detected_s"] <= timeline["detect_objective_s"]
        assert timeline["recovered_s"] <= timeline["recover_objective_s"]
    html = (reference_run.run_dir / "report.html").read_text("utf-8")
    assert "<h2>Fault timelines</h2>" in html
    assert "black hole on bot-postgres → bot" in html
