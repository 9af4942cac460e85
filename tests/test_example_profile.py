"""A stack that is not the reference stack, described only by its profile, runs the suites."""

from __future__ import annotations

import os
import shutil
from importlib.util import find_spec
from pathlib import Path

import pytest
from support import (
    GUESTBOOK_EXAMPLE,
    NOTES_EXAMPLE,
    POSTBOX_EXAMPLE,
    plan_disagreements,
    run_suites,
)

pytestmark = pytest.mark.stack
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])  # mariadbd is there


def test_the_notes_example_passes_the_suites(tmp_path: pytest.TempPathFactory) -> None:
    run = run_suites(tmp_path, f"--profile={NOTES_EXAMPLE}", "--backend=process")  # type: ignore[arg-type]
    assert run.exit_code == 0, run.output[-4000:]
    covered = run.covered()
    assert {"R-TLS-1", "R-HDR-1", "R-HLT-3", "R-HLT-4", "R-RES-5"} <= set(covered)
    assert set(covered.values()) <= {"pass", "partial", "skip"}
    # Partly tested (the fault schedules send the [command] this profile lacks): said so,
    # with the reason, never a pass.
    partial = {
        r["id"]: r["untested"] for r in run.results["requirements"] if r["verdict"] == "partial"
    }
    assert partial, "R-HLT-1 and R-HLT-3 are tested without the fault schedules"
    assert all(untested and all(u["reason"] for u in untested) for untested in partial.values())
    # Checks of what this profile does not describe skip, saying why: a command, an uptime
    # monitor, a database and ops scripts for the deploy and backup drills, what to redact.
    drills = {f"R-DEP-{n}" for n in (1, 2, 3)} | {f"R-BAK-{n}" for n in range(1, 6)} | {"R-SEC-1"}
    undescribed = {"R-HLT-5", "R-HLT-7", "R-RES-1", "R-RES-2", "R-RES-3", "R-RES-4"}
    undescribed |= {f"R-RED-{n}" for n in range(1, 5)}  # no [redaction] section
    # No [auth] section and no interactions endpoint ([command]): the auth suite skips.
    undescribed |= {"R-AUTH-1", "R-AUTH-2", "R-RL-1", "R-RL-2", "R-SIG-1", "R-SIG-2"}
    undescribed |= {"R-OAUTH-1", "R-OAUTH-2", "R-OAUTH-3"}
    undescribed |= {"R-HDR-7"}  # the notes API sets no cookie: nothing to check
    # Host hardening and database links leaving the host: local processes run on no host.
    undescribed |= {f"R-HOST-{n}" for n in range(1, 7)} | {"R-TLS-8"}
    assert {i for i, v in covered.items() if v == "skip"} <= drills | undescribed
    results = run.results
    assert results["run"]["profile"] == "notes-example"
    figures = {f["name"] for r in results["requirements"] for f in r["figures"]}
    assert "notes_detects_redis_down_s" in figures
    # `stackproof plan` foretold every skip, with the reason the run gave.
    cookies = "headers/test_headers.py::test_every_cookie_set_is_secure_httponly_and_same_site"
    disagreements = plan_disagreements(
        run, f"--profile={NOTES_EXAMPLE}", "--backend=process", runtime=frozenset({cookies})
    )
    assert disagreements == []


# --- stacks with a service stackproof does not know (the generic kind) ---------------------

# Suites that drive PostgreSQL: the backup and restore drills, a partitioned database, the
# readiness of a service whose database is down. On MariaDB and RabbitMQ they skip, saying so.
POSTGRES_DRILLS = {f"R-BAK-{n}" for n in range(1, 6)} | {"R-SEC-1"}
NOT_DESCRIBED = (
    {"R-DEP-1", "R-DEP-2", "R-DEP-3", "R-HLT-5", "R-HLT-7", "R-HDR-7", "R-TLS-8"}
    | {f"R-RES-{n}" for n in range(1, 5)}
    | {f"R-RED-{n}" for n in range(1, 5)}
    | {"R-AUTH-1", "R-AUTH-2", "R-RL-1", "R-RL-2", "R-SIG-1", "R-SIG-2"}
    | {"R-OAUTH-1", "R-OAUTH-2", "R-OAUTH-3"}
    | {f"R-HOST-{n}" for n in range(1, 7)}
)
COOKIES = "headers/test_headers.py::test_every_cookie_set_is_secure_httponly_and_same_site"


def _generic_example_runs(tmp_path: Path, profile: Path, name: str, app: str, generic: str) -> None:
    """The example's suites run; `app` depends on the generic service `generic`."""
    __tracebackhide__ = True
    run = run_suites(tmp_path, f"--profile={profile}", "--backend=process")
    assert run.exit_code == 0, run.output[-4000:]
    covered = run.covered()
    assert run.results["run"]["profile"] == name
    # What the stack meets passes: TLS, headers, health (its dependency taken away through
    # the fault proxy and given back), supervision.
    passed = {i for i, v in covered.items() if v == "pass"}
    assert {"R-TLS-1", "R-HDR-1", "R-HLT-2", "R-HLT-4", "R-RES-5"} <= passed
    assert set(covered.values()) <= {"pass", "partial", "skip"}, covered
    assert {i for i, v in covered.items() if v == "skip"} <= POSTGRES_DRILLS | NOT_DESCRIBED
    tests = {t["nodeid"]: t for r in run.results["requirements"] for t in r["tests"]}
    for requirement in run.results["requirements"]:
        if requirement["id"] in POSTGRES_DRILLS:
            assert requirement["verdict"] == "skip"
            assert all("PostgreSQL" in (t["message"] or "") for t in requirement["tests"])
    assert all(t["message"] for t in tests.values() if t["outcome"] == "skip")
    partial = [r["untested"] for r in run.results["requirements"] if r["verdict"] == "partial"]
    assert all(untested and all(u["reason"] for u in untested) for untested in partial)
    # The link to the generic service was faulted through the fault proxy, and seen.
    figures = {f["name"] for r in run.results["requirements"] for f in r["figures"]}
    assert f"{app}_detects_down_{app}-{generic}_s" in figures, sorted(figures)
    run_args = (f"--profile={profile}", "--backend=process")
    assert plan_disagreements(run, *run_args, runtime=frozenset({COOKIES})) == []


@pytest.mark.skipif(
    shutil.which("mariadbd", path=SBIN) is None or shutil.which("mariadb") is None,
    reason="needs MariaDB (Debian: apt-get install mariadb-server mariadb-client)",
)
def test_the_guestbook_example_on_mariadb_runs_its_suites(tmp_path: Path) -> None:
    _generic_example_runs(tmp_path, GUESTBOOK_EXAMPLE, "guestbook-example", "guestbook", "db")


@pytest.mark.skipif(
    not Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists() or shutil.which("epmd") is None,
    reason="needs RabbitMQ (Debian: apt-get install rabbitmq-server)",
)
@pytest.mark.skipif(find_spec("pika") is None, reason="needs pika (the test dependency group)")
def test_the_postbox_example_on_rabbitmq_runs_its_suites(tmp_path: Path) -> None:
    _generic_example_runs(tmp_path, POSTBOX_EXAMPLE, "postbox-example", "postbox", "broker")
