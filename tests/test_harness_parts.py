"""Readiness waits, managed processes, the run CA and mutant materialisation."""

from __future__ import annotations

import datetime as dt
import signal
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID
from support import REFERENCE, ROOT

from stackproof.errors import MutantError, ReadinessTimeoutError, ServiceStartError
from stackproof.mutants import discover, load_mutant, materialize
from stackproof.procs import ManagedProcess, ProcessSpec, run_processes
from stackproof.profile import load_profile
from stackproof.readiness import Check, TcpPort, wait_for
from stackproof.tls_ca import RunCA


class Never:
    description = "something that never happens"

    def check(self) -> Check:
        return Check(False, "still not")


def test_a_wait_that_times_out_names_what_and_carries_the_log_tail() -> None:
    started = time.monotonic()
    with pytest.raises(ReadinessTimeoutError) as raised:
        wait_for(
            Never(), timeout_s=0.3, what="service 'x'", hint="look at x", log_tail=lambda: "boom"
        )
    assert 0.3 <= time.monotonic() - started < 5
    message = str(raised.value)
    assert "service 'x': expected something that never happens" in message
    assert "last seen: still not" in message
    assert raised.value.__notes__ == ["hint: look at x", "log tail of service 'x':\nboom"]


def test_a_wait_gives_up_at_once_when_told_why() -> None:
    started = time.monotonic()
    with pytest.raises(ServiceStartError, match="exited with code 3") as raised:
        wait_for(Never(), timeout_s=30, what="x", give_up=lambda: "x exited with code 3")
    assert not isinstance(raised.value, ReadinessTimeoutError)
    assert time.monotonic() - started < 5


def test_a_managed_process_group_stops_entirely(tmp_path: Path) -> None:
    # A parent that leaves a child behind in its process group, like nginx's workers.
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    process = ManagedProcess(
        ProcessSpec(
            "family",
            (sys.executable, "-c", script),
            {"PATH": "/usr/bin:/bin"},
            tmp_path,
            tmp_path / "family.log",
        ),
        run_id="unit-procs",
    )
    process.start()
    wait_for(_Count("unit-procs", 2), timeout_s=10, what="the child")
    process.stop(timeout_s=5)
    assert not process.running()
    assert run_processes("unit-procs") == []
    assert "starting family" in process.log_tail()


class _Count:
    def __init__(self, run_id: str, count: int) -> None:
        self.run_id, self.count = run_id, count
        self.description = f"{count} processes carry run id {run_id}"

    def check(self) -> Check:
        found = len(run_processes(self.run_id))
        return Check(found >= self.count, f"{found}")


def test_a_paused_process_still_stops(tmp_path: Path) -> None:
    process = ManagedProcess(
        ProcessSpec(
            "sleeper",
            (sys.executable, "-c", "import time; time.sleep(60)"),
            {},
            tmp_path,
            tmp_path / "s.log",
            stop_signal=signal.SIGTERM,
        ),
        run_id="unit-pause",
    )
    process.start()
    process.pause()
    process.stop(timeout_s=5)
    assert process.exit_code() is not None


def test_the_run_ca_issues_strictly_valid_server_certificates(tmp_path: Path) -> None:
    ca = RunCA(tmp_path)
    issued = ca.issue("server", ["localhost", "127.0.0.1"], valid_days=90)
    certificate = x509.load_pem_x509_certificate(issued.cert_path.read_bytes())
    names = certificate.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert not names.critical, "RFC 5280: SAN is not critical when the subject is not empty"
    assert names.value.get_values_for_type(x509.DNSName) == ["localhost"]
    lifespan = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert dt.timedelta(days=90) < lifespan < dt.timedelta(days=91)
    assert issued.key_path.stat().st_mode & 0o077 == 0


def test_every_shipped_mutant_applies_to_the_stack_it_breaks(tmp_path: Path) -> None:
    mutants = discover(ROOT / "mutants")
    assert mutants
    for mutant in mutants:
        root = load_profile(mutant.profile_of(ROOT, REFERENCE)).stack.root
        assert root is not None, f"{mutant.name}: its profile names no stack.root"
        overlay = materialize(mutant, root, tmp_path / mutant.name)
        assert Path(overlay["stack"]["root"]).is_dir()


def test_a_mutant_cannot_reach_outside_the_stack_tree(tmp_path: Path) -> None:
    folder = tmp_path / "escape"
    folder.mkdir()
    (folder / "mutant.toml").write_text(
        'description = "writes outside"\nexpects = ["R-TLS-1"]\n[[edit]]\nfile = "../../etc/passwd"\nold = "x"\nnew = "y"\n'
    )
    with pytest.raises(MutantError, match="outside the stack tree"):
        materialize(load_mutant(folder), ROOT / "stack", tmp_path / "work")


def test_tcp_condition_sees_a_closed_port() -> None:
    assert not TcpPort("127.0.0.1", 9).check().ok
