"""Nothing the run made outlives it: not after a normal end, not after Ctrl-C or SIGTERM,
and, once `stackproof clean` has run, not after the harness was SIGKILLed."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from support import REFERENCE, reference_variant, run_suites, suites_command

from stackproof.backends.process.partitions import unavailable as partitions_unavailable
from stackproof.leftovers.harness import markers_root
from stackproof.leftovers.keeper import read_objects
from stackproof.ports import held, lock_dir
from stackproof.procs import run_processes
from stackproof.readiness import Check, wait_for
from stackproof.run import read_manifest

pytestmark = pytest.mark.stack

Records = list[dict[str, Any]]


class ManifestShows:
    def __init__(self, path: Path, moment: Callable[[Records], bool], description: str) -> None:
        self.path = path
        self.moment = moment
        self.description = description

    def check(self) -> Check:
        records = read_manifest(self.path)
        return Check(self.moment(records), f"{len(records)} records")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _iptables_rules() -> list[str]:
    if partitions_unavailable() is not None:
        return []
    listing = subprocess.run(
        ["iptables", "-w", "5", "-S"], capture_output=True, text=True, check=True
    )
    return listing.stdout.splitlines()


def assert_nothing_left(run_id: str, records: Records) -> None:
    __tracebackhide__ = True
    assert records, "the run recorded nothing it made"
    # Every child carries the run ID in its environment, grandchildren (workers) included:
    # services, supervisors and the fault proxy servers alike.
    assert run_processes(run_id) == [], "processes of the run are still alive"
    assert any(r["kind"] == "process" for r in records)
    for record in records:
        if record["kind"] == "temp_dir":
            assert not Path(record["path"]).exists(), record
        if record["kind"] == "ports":
            ports = [p for service in record["ports"].values() for p in service.values()]
            assert [p for p in ports if _listening(p)] == [], f"still listening: {record}"
        if record["kind"] == "fault_server" and "port" in record:
            assert not _listening(record["port"]), f"fault server still listening: {record}"
        if record["kind"] == "fault_proxy":
            port = int(record["listen"].rpartition(":")[2])
            assert not _listening(port), f"fault proxy still listening: {record}"
    chains = {r["chain"] for r in records if r["kind"] == "iptables_chain"}
    left = [
        rule for rule in _iptables_rules()
        if f"stackproof run={run_id} " in rule or any(chain in rule for chain in chains)
    ]  # fmt: skip
    assert left == [], f"iptables rules of the run are left: {left}"


def test_a_finished_run_leaves_nothing(tmp_path: Path) -> None:
    # R-HLT-3 stops services and, where root, partitions them with iptables.
    run = run_suites(tmp_path, f"--profile={REFERENCE}", "--requirement=R-HLT-3", run_id="finished")
    assert run.exit_code == 0, run.output[-3000:]
    records = read_manifest(run.run_dir / "manifest.jsonl")
    assert_nothing_left("finished", records)
    assert any(r["kind"] == "fault_proxy" for r in records), "no link ran through a proxy"
    if partitions_unavailable() is None:
        assert any(r["kind"] == "partition" for r in records), "no partition was made"


def test_a_stack_that_fails_to_start_leaves_nothing_and_says_why(tmp_path: Path) -> None:
    """Given a bot that exits at once, the run reports errors with its log tail, and cleans up."""
    broken = reference_variant(
        tmp_path,
        {
            '"{{ ops.releases_dir }}/bot/current/bin/start",': '"{{ ops.releases_dir }}/bot/current/bin/start", "--no-such-uvicorn-option",'
        },
    )
    run = run_suites(tmp_path / "reports", f"--profile={broken}", "-k", "tls", run_id="broken")
    assert run.exit_code != 0
    covered = run.covered()
    assert covered
    # `-k tls` takes R-TLS-8 too, which local processes can never give (no host of their
    # own): it skips before its stack is asked for, broken or not.
    assert covered.pop("R-TLS-8") == "skip"
    assert set(covered.values()) == {"error"}
    errors = "\n".join(run.results["run"]["errors"])
    assert "service 'bot'" in errors
    assert "exited with code 2" in errors
    messages = [t["message"] for r in run.results["requirements"] for t in r["tests"]]
    assert any("no-such-uvicorn-option" in (m or "") for m in messages), "the log tail is shown"
    assert_nothing_left("broken", read_manifest(run.run_dir / "manifest.jsonl"))


def _started_services(records: Records) -> bool:
    return any(r["kind"] == "process" for r in records)


def _own_stack_running(records: Records) -> bool:
    ready = [r["stack"] for r in records if r["kind"] == "stack_ready"]
    return "main" in ready and any(label != "main" for label in ready)


@pytest.mark.parametrize(
    ("moment", "signum"),
    [
        pytest.param(_started_services, signal.SIGINT, id="ctrl-c-while-starting"),
        pytest.param(_own_stack_running, signal.SIGINT, id="ctrl-c-while-testing"),
        pytest.param(_own_stack_running, signal.SIGTERM, id="sigterm-while-testing"),
    ],
)
def test_an_interrupted_run_leaves_nothing(
    tmp_path: Path, moment: Callable[[Records], bool], signum: signal.Signals
) -> None:
    run_id = f"interrupted-{signum.name.lower()}"
    manifest = tmp_path / run_id / "manifest.jsonl"
    with (tmp_path / "output.log").open("wb") as output:
        process = subprocess.Popen(
            suites_command(
                f"--profile={REFERENCE}",
                f"--reports-dir={tmp_path}",
                f"--run-id={run_id}",
                "-k",
                "health",
            ),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                ManifestShows(manifest, moment, f"the moment to interrupt ({moment.__name__})"),
                timeout_s=120,
                what="the conformance run",
                give_up=lambda: (
                    None if process.poll() is None else f"exited {process.returncode} early"
                ),
                interval_s=0.02,
            )
            process.send_signal(signum)
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code != 0, "an interrupted run must not report success"
    assert_nothing_left(run_id, read_manifest(manifest))
    results = tmp_path / run_id / "results.json"
    assert results.exists(), (tmp_path / "output.log").read_text()[-3000:]
    assert json.loads(results.read_text())["run"]["interrupted"] is True


def _partition_in_place(records: Records) -> bool:
    made = sum(r["kind"] == "partition" for r in records)
    return made > sum(r["kind"] == "partition_removed" for r in records)


@pytest.mark.skipif(partitions_unavailable() is not None, reason=str(partitions_unavailable()))
def test_ctrl_c_during_a_partition_leaves_no_rule(tmp_path: Path) -> None:
    run_id = "interrupted-partition"
    manifest = tmp_path / run_id / "manifest.jsonl"
    with (tmp_path / "output.log").open("wb") as output:
        process = subprocess.Popen(
            suites_command(
                f"--profile={REFERENCE}",
                f"--reports-dir={tmp_path}",
                f"--run-id={run_id}",
                "--requirement=R-RES-4",
                "-k",
                "partitioned",
            ),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(
                ManifestShows(manifest, _partition_in_place, "a partition in place"),
                timeout_s=120,
                what="the conformance run",
                give_up=lambda: (
                    None if process.poll() is None else f"exited {process.returncode} early"
                ),
                interval_s=0.02,
            )
            assert any(f"stackproof run={run_id} " in rule for rule in _iptables_rules())
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code != 0, "an interrupted run must not report success"
    assert_nothing_left(run_id, read_manifest(manifest))


# --- SIGKILL: what the kernel cannot take along, `stackproof clean` takes ---


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _run_ports(records: Records) -> list[int]:
    ports = [
        port
        for record in records
        if record["kind"] == "ports"
        for service in record["ports"].values()
        for port in service.values()
    ]
    ports += [r["port"] for r in records if r["kind"] == "fault_server" and "port" in r]
    ports += [int(r["listen"].rpartition(":")[2]) for r in records if r["kind"] == "fault_proxy"]
    return ports


def _marker_of(pid: int) -> Path:
    (marker,) = markers_root().glob(f"{pid}-*")
    return marker


@pytest.mark.parametrize("keeper", ["keeper-alive", "keeper-killed-too"])
def test_a_sigkilled_harness_leaves_nothing_after_clean(tmp_path: Path, keeper: str) -> None:
    """Given a conformance run with its stacks up (and, where root, a partition in place),
    when the harness is SIGKILLed (with its keeper, in the second case), then after
    `stackproof clean` nothing of it is left: no process (nginx workers included), no
    listening port, no temporary folder, no iptables rule, no lock file, no marker."""
    run_id = f"sigkilled-{keeper}"
    manifest = tmp_path / run_id / "manifest.jsonl"
    partitions = partitions_unavailable() is None
    selection = ["--requirement=R-RES-4", "-k", "partitioned"] if partitions else ["-k", "health"]
    moment = _partition_in_place if partitions else _own_stack_running
    with (tmp_path / "output.log").open("wb") as output:
        harness = subprocess.Popen(
            suites_command(
                f"--profile={REFERENCE}", f"--reports-dir={tmp_path}", f"--run-id={run_id}",
                *selection,
            ),
            stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(
                ManifestShows(manifest, moment, f"the moment to kill ({moment.__name__})"),
                timeout_s=180,
                what="the conformance run",
                give_up=lambda: (
                    None if harness.poll() is None else f"exited {harness.returncode} early"
                ),
                interval_s=0.02,
            )
            family = [p.pid for p in psutil.Process(harness.pid).children(recursive=True)]
            marker = _marker_of(harness.pid)
            pid_files = [Path(r["path"]) for r in read_objects(marker) if r["kind"] == "pid_file"]
            masters = [int(f.read_text().split()[0]) for f in pid_files if f.name == "nginx.pid"]
            workers = [child.pid for pid in masters for child in psutil.Process(pid).children()]
            assert workers, "nginx runs workers: the processes a killed master leaves"
            if keeper == "keeper-killed-too":
                (pid,) = [r["pid"] for r in read_objects(marker) if r["kind"] == "keeper"]
                psutil.Process(pid).kill()
                family.append(pid)
            harness.kill()
        finally:
            if harness.poll() is None:
                harness.kill()
            harness.wait()
    done = subprocess.run(
        [sys.executable, "-m", "stackproof.cli", "clean"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    records = read_manifest(manifest)
    assert_nothing_left(run_id, records)
    assert [pid for pid in [*family, *workers] if _alive(pid)] == [], done.stdout
    assert not marker.exists(), done.stdout
    lock_files = lock_dir() / "ports"
    left = [p for p in _run_ports(records) if (lock_files / f"{p}.lock").exists() and not held(p)]
    assert left == [], "lock files of the run's ports are left"
    if keeper == "keeper-killed-too":
        assert "removed: processes" in done.stdout, "clean, not the keeper, killed them"
