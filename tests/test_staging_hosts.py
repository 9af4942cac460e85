"""The pre-release gate against staging hosts the run makes (issue 11): the reference host
passes R-HOST-1..6 and R-TLS-8 (and the auth check with its key from `[remote.secrets]`),
every host mutant is killed by a `fail`, and an unreachable host, a wrong key and an unknown
host key each give a clear error and a report of `error` verdicts, leaving nothing behind.

The hosts are containers (see `staging_hosts`); without a Docker engine these tests skip.
"""

from __future__ import annotations

import datetime as dt
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from staging_hosts import (
    APP_HOST,
    BASE_IMAGE,
    LABEL,
    OWNER_LABEL,
    REQUIREMENTS,
    HostMutant,
    Network,
    Site,
    app_host,
    docker,
    engine_unavailable,
    host_mutants,
    staging_network,
    staging_profile,
    sweep_orphans,
)
from support import SuiteRun, run_suites

from stackproof.backends import Capability
from stackproof.backends.remote import RemoteBackend
from stackproof.drills.scripts import OpsScripts
from stackproof.profile import load_profile
from stackproof.run import RunContext

pytestmark = pytest.mark.stack
WHY_NOT = engine_unavailable()
if WHY_NOT is not None:
    pytestmark = [pytest.mark.stack, pytest.mark.skip(reason=f"staging hosts: {WHY_NOT}")]

GATE = (*REQUIREMENTS, "R-AUTH-1", "R-SIG-1", "R-SIG-2")
MUTANTS = host_mutants()
PARALLEL_HOSTS = 2  # two cores: more hosts booting at once only wait on each other


def _selected(*requirements: str) -> list[str]:
    return [f"--requirement={r}" for r in requirements]


def _run_id() -> str:
    return f"s{secrets.token_hex(3)}"


def _left_behind(run_id: str) -> list[str]:
    """Containers and networks still labelled with a suite run's ID."""
    containers = docker("ps", "-aq", "--filter", f"label={LABEL}={run_id}").stdout.split()
    networks = docker("network", "ls", "-q", "--filter", f"label={LABEL}={run_id}").stdout.split()
    return containers + networks


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with staging_network(tmp_path_factory.mktemp("staging"), _run_id()) as made:
        yield made


@pytest.fixture(scope="module")
def reference_host(network: Network) -> Iterator[Site]:
    with app_host(network, APP_HOST) as site:
        yield site


# --- the reference host passes ----------------------------------------------------------


def test_the_reference_host_passes_the_gate(reference_host: Site, tmp_path: Path) -> None:
    profile = staging_profile(reference_host, tmp_path / "profile")
    before = reference_host.keys.known_hosts(reference_host.ssh_port).read_bytes()
    run = run_suites(tmp_path / "reports", f"--profile={profile}", *_selected(*GATE),
                     run_id="gate")  # fmt: skip
    assert run.exit_code == 0, run.output[-6000:]
    verdicts = run.covered()
    assert {r: verdicts.get(r) for r in GATE} == dict.fromkeys(GATE, "pass"), run.output[-6000:]
    assert run.results["run"]["backend"] == "remote"
    # The known_hosts file is read, never written; the API key and the Discord signing key
    # came from files and are nowhere in the report.
    assert reference_host.keys.known_hosts(reference_host.ssh_port).read_bytes() == before
    keys = (reference_host.network.stack_secrets["auth_api_key"],
            reference_host.network.discord_signing_key)  # fmt: skip
    for written in run.run_dir.rglob("*"):
        if written.is_file():
            text = written.read_text("utf-8", errors="replace")
            assert not [key for key in keys if key in text], written
    assert _left_behind("gate") == []  # the outside probe's container is gone


def test_the_gate_reads_what_it_judges_from_the_host(reference_host: Site, tmp_path: Path) -> None:
    """The evidence is the host's own: its firewall, its sockets, its users, the wire."""
    profile = staging_profile(reference_host, tmp_path / "profile")
    run = run_suites(tmp_path / "reports", f"--profile={profile}", *_selected(*REQUIREMENTS))
    evidence = {r["id"]: {e["label"]: e["data"] for e in r["evidence"]}
                for r in run.results["requirements"]}  # fmt: skip
    assert evidence["R-HOST-1"]["firewall"]["kind"] == "nftables"
    assert evidence["R-HOST-1"]["firewall"]["default input"] == "drop"
    assert evidence["R-HOST-1"]["probe"]["states"] == {"22": "open", "80": "open", "443": "open"}
    assert "tcp 127.0.0.1:8002" in evidence["R-HOST-3"]["listening"]
    assert evidence["R-HOST-4"]["users"]["bot"]["configured"] == "refstack"
    assert evidence["R-HOST-5"]["sentry"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert 170000 <= evidence["R-HOST-6"]["server_version_num"]["dbhost:5432"] < 180000
    wire = evidence["R-TLS-8"]["wire"]
    assert len(wire) == 4  # auth and bot, each to PostgreSQL and Redis on the database host
    assert all(
        w["tls"] and w["verified"] and w["detail"].startswith("TLSv1.3") for w in wire.values()
    )


# --- every host mutant is killed --------------------------------------------------------


@dataclass(frozen=True)
class MutantRun:
    mutant: HostMutant
    run: SuiteRun


def _run_mutant(network: Network, mutant: HostMutant, folder: Path) -> MutantRun:
    name = mutant.name.removeprefix("host-")[:20]
    # A drill mutant (the host's own scripts broken, or its own database to destroy and
    # restore) runs the drills it breaks, as the staging drills run: --allow-destructive.
    drills = not set(mutant.expects) <= set(REQUIREMENTS)
    selected = _selected(*mutant.expects) if drills else _selected(*REQUIREMENTS)
    flags = ["--allow-destructive"] if drills else []
    with app_host(network, name, mutant.host) as site:
        profile = staging_profile(site, folder / "profile", ops=drills,
                                  local_database=bool(mutant.host.get("local_database")))  # fmt: skip
        run = run_suites(folder / "reports", f"--profile={profile}", *selected, *flags,
                         run_id=mutant.name)  # fmt: skip
    return MutantRun(mutant, run)


@pytest.fixture(scope="module")
def mutant_runs(network: Network, tmp_path_factory: pytest.TempPathFactory) -> dict[str, MutantRun]:
    """Every host mutant on a host of its own, a few side by side."""
    app_mutants = [m for m in MUTANTS if m.database == "postgresql-17"]
    folder = tmp_path_factory.mktemp("host-mutants")
    with ThreadPoolExecutor(PARALLEL_HOSTS) as pool:
        futures = [pool.submit(_run_mutant, network, m, folder / m.name) for m in app_mutants]
        runs = {f.result().mutant.name: f.result() for f in futures}
    old_database = [m for m in MUTANTS if m.database == "postgresql-15"]
    for mutant in old_database:
        with staging_network(folder / mutant.name, _run_id(), db_in_host_image=True) as other:
            runs[mutant.name] = _run_mutant(other, mutant, folder / mutant.name)
    return runs


def test_there_are_host_mutants_for_every_host_requirement() -> None:
    expected = {r for m in MUTANTS for r in m.expects}
    assert set(REQUIREMENTS) <= expected, f"no host mutant for {set(REQUIREMENTS) - expected}"


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_host_mutant_is_killed_by_a_fail(
    mutant: HostMutant, mutant_runs: dict[str, MutantRun]
) -> None:
    run = mutant_runs[mutant.name].run
    verdicts = run.covered()
    for requirement in mutant.expects:
        assert verdicts.get(requirement) == "fail", (
            f"{mutant.name} ({mutant.description}): {requirement} is {verdicts.get(requirement)}, "
            f"expected fail\n{run.output[-4000:]}"
        )
    errors = {r: v for r, v in verdicts.items() if v == "error"}
    assert errors == {}, f"{mutant.name}: a mutant must be judged, not break the checks: {errors}"


def test_every_host_suite_test_is_failed_by_a_host_mutant(
    mutant_runs: dict[str, MutantRun],
) -> None:
    """The host suite's half of the kill matrix (tests/test_kill_matrix.py leaves it here)."""
    seen: set[str] = set()
    failed: set[str] = set()
    for mutant_run in mutant_runs.values():
        for requirement in mutant_run.run.results["requirements"]:
            for test in requirement["tests"]:
                if test["nodeid"].startswith("host/"):
                    seen.add(test["nodeid"])
                    if test["outcome"] == "fail":
                        failed.add(test["nodeid"])
    assert seen, "the host mutants' runs ran no test of the host suite"
    assert sorted(seen - failed) == [], "host tests no host mutant fails"


# --- bad input: a clear error, a report of errors, nothing left behind ------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


def _expect_error(run: SuiteRun, *phrases: str) -> None:
    assert run.exit_code != 0
    verdicts = run.covered()
    assert verdicts, run.output[-3000:]
    assert set(verdicts.values()) == {"error"}, verdicts
    messages = " ".join(run.results["run"]["errors"])
    for phrase in phrases:
        assert phrase in messages, f"{phrase!r} not in {messages!r}"
    assert (run.run_dir / "report.html").is_file()
    assert (run.run_dir / "junit.xml").is_file()


def test_an_unknown_host_key_is_an_error_naming_the_host_and_its_fingerprint(
    reference_host: Site, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("", "utf-8")
    profile = staging_profile(reference_host, tmp_path / "profile", known_hosts=empty)
    run = run_suites(tmp_path / "reports", f"--profile={profile}", *_selected(*REQUIREMENTS),
                     run_id="unknown-key")  # fmt: skip
    _expect_error(
        run,
        f"[127.0.0.1]:{reference_host.ssh_port}",
        reference_host.keys.host_fingerprint(),
        "never accepts an unknown host key",
        "ssh-keyscan",
    )
    assert empty.read_text("utf-8") == "", "known_hosts must never be written"
    assert _left_behind("unknown-key") == []


def test_a_wrong_key_is_an_error_saying_the_key_was_refused(
    reference_host: Site, tmp_path: Path
) -> None:
    profile = staging_profile(
        reference_host, tmp_path / "profile", identity=reference_host.keys.other_client
    )
    run = run_suites(tmp_path / "reports", f"--profile={profile}", *_selected(*REQUIREMENTS),
                     run_id="wrong-key")  # fmt: skip
    _expect_error(run, "refused the key", str(reference_host.keys.other_client))
    assert _left_behind("wrong-key") == []


def test_an_unreachable_host_is_an_error_saying_so(reference_host: Site, tmp_path: Path) -> None:
    profile = staging_profile(reference_host, tmp_path / "profile", ssh_port=_closed_port())
    run = run_suites(tmp_path / "reports", f"--profile={profile}", *_selected(*REQUIREMENTS),
                     run_id="unreachable")  # fmt: skip
    _expect_error(run, "is unreachable", "remote.port")
    assert _left_behind("unreachable") == []


# --- the host's own ops scripts, over SSH -----------------------------------------------


def test_the_hosts_own_ops_scripts_run_there_over_ssh(reference_host: Site, tmp_path: Path) -> None:
    """`[remote.ops]`: the stack's retention script runs on the host as cron would, its
    output comes back over the channel and its events over SFTP."""
    profile = load_profile(staging_profile(reference_host, tmp_path / "profile", ops=True))
    backend = RemoteBackend()
    backend.check(profile)
    run = RunContext("ops", tmp_path / "run")
    now = dt.datetime.now(dt.UTC)
    with backend.up(profile, run, "main") as stack:
        scripts = OpsScripts(stack)
        files = stack.files()
        folder = scripts.ops.backup_dir
        old = folder / f"stack-{now - dt.timedelta(days=30):%Y%m%d-%H%M%S}.dump"
        new = folder / f"stack-{now:%Y%m%d-%H%M%S}.dump"
        for path in (old, new):
            files.write_bytes(path, b"PGDMP planted by a test", 0o640)
        result = scripts.run("retention", timeout_s=60)
        assert result.exit_code == 0, result.describe()
        assert files.stat(old) is None, "a backup older than 7 days is left"
        kept = files.stat(new)
        assert kept is not None
        assert kept.mode == 0o640
        assert any(e.get("event") for e in result.events), result.events
        files.remove(new)
    assert stack.can(Capability.OPS)


# --- nothing outlives the run --------------------------------------------------------------

HOLD_A_NETWORK = """
import sys
sys.path[:0] = [{tests!r}]
from pathlib import Path
from staging_hosts import staging_network
with staging_network(Path({folder!r}), {run_id!r}):
    print("up", flush=True)
    sys.stdin.read()  # until Ctrl-C
"""


def test_ctrl_c_removes_the_hosts_networks_of_the_run(tmp_path: Path) -> None:
    run_id = _run_id()
    script = HOLD_A_NETWORK.format(
        tests=str(Path(__file__).parent), folder=str(tmp_path), run_id=run_id
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "up"
            assert _left_behind(run_id), "the network and the database host should be up"
            holder.send_signal(signal.SIGINT)
            holder.wait(timeout=120)
        finally:
            if holder.poll() is None:
                holder.kill()
    assert _left_behind(run_id) == []


def test_what_a_killed_harness_left_is_swept_by_the_next_run() -> None:
    run_id = _run_id()
    orphan = docker(
        "run", "--detach", "--label", f"{LABEL}={run_id}", "--label", f"{OWNER_LABEL}=999999999",
        "--entrypoint", "/bin/sleep", BASE_IMAGE, "300",
    ).stdout.strip()  # fmt: skip
    try:
        swept = sweep_orphans()
        assert any(orphan.startswith(short) for short in swept), swept
        assert _left_behind(run_id) == []
    finally:
        docker("rm", "-f", orphan, check=False)


def test_the_backup_drills_run_on_staging_with_the_hosts_own_scripts(
    network: Network, tmp_path: Path
) -> None:
    """environment = "staging" and --allow-destructive: the backup suite, destructive drills
    included, runs the host's own backup, retention and restore scripts over SSH against the
    app host's own PostgreSQL (its administrator reached through the SSH connection; its
    disk lost through the host's own wipe command)."""
    drilled = ("R-BAK-1", "R-BAK-2", "R-BAK-3", "R-BAK-4", "R-BAK-5", "R-SEC-1")
    with app_host(network, "drills", {"local_database": True}) as site:
        profile = staging_profile(site, tmp_path / "profile", local_database=True)
        run = run_suites(tmp_path / "reports", f"--profile={profile}", "--allow-destructive",
                         *_selected(*drilled), run_id="drills")  # fmt: skip
    assert run.exit_code == 0, run.output[-6000:]
    verdicts = run.covered()
    assert {r: verdicts.get(r) for r in drilled} == dict.fromkeys(drilled, "pass")
    outcomes = {t["nodeid"]: t["outcome"] for r in run.results["requirements"] for t in r["tests"]}
    assert any("killed_midway" in n for n in outcomes), outcomes  # the destructive drills ran
    assert set(outcomes.values()) == {"pass"}, outcomes
    assert _left_behind("drills") == []


DEPLOY_DRILLS = ("R-DEP-1", "R-DEP-2", "R-DEP-3")


def test_the_deploy_drills_run_on_staging_with_the_hosts_own_scripts(
    network: Network, tmp_path: Path
) -> None:
    """environment = "staging" and --allow-destructive: the rollback suite's deploy drills
    build their releases here, ship them to the host over SFTP and deploy them with the
    host's own deploy script over SSH; the bot runs from the host's releases folder, and what
    runs is read from the host (its unit's working folder, its `current` link)."""
    with app_host(network, "deploys") as site:
        profile = staging_profile(site, tmp_path / "profile", ops=True)
        run = run_suites(tmp_path / "reports", f"--profile={profile}", "--allow-destructive",
                         *_selected(*DEPLOY_DRILLS), run_id="deploys")  # fmt: skip
        leftovers = site.exec("sh", "-c", "ls -d /tmp/stackproof-artifacts-* 2>/dev/null")
    assert run.exit_code == 0, run.output[-6000:]
    verdicts = run.covered()
    assert {r: verdicts.get(r) for r in DEPLOY_DRILLS} == dict.fromkeys(DEPLOY_DRILLS, "pass")
    outcomes = {t["nodeid"]: t["outcome"] for r in run.results["requirements"] for t in r["tests"]}
    assert any("unready_release" in n for n in outcomes), outcomes  # the destructive drills ran
    assert set(outcomes.values()) == {"pass"}, outcomes
    figures = {f["name"] for r in run.results["requirements"] for f in r.get("figures", [])}
    assert {"deploy_switch_s", "rollback_s", "outage_s"} <= figures, figures
    assert leftovers.stdout.strip() == "", "the drills' artifacts were left on the host"
    assert _left_behind("deploys") == []
