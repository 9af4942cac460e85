"""The remote backend: a stack already running elsewhere, reached by its URLs only."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import REFERENCE, run_suites

from stackproof.procs import tail
from stackproof.readiness import Check, wait_for
from stackproof.tls_ca import RunCA

pytestmark = pytest.mark.stack


class FileWritten:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"{path} is written"

    def check(self) -> Check:
        return Check(self.path.exists() and self.path.stat().st_size > 0, "not yet")


def staging_profile(endpoints: dict[str, Any]) -> str:
    """A staging profile for the running reference stack, as a user would write one."""
    services = endpoints["services"]
    return f"""
name = "reference-staging"
environment = "staging"
backend = "remote"

[stack]
public_host = "{endpoints["host"]}"

[public]
body_limit_path = "/bot/interactions"
remote = {{ https_url = "{endpoints["https_url"]}", http_url = "{endpoints["http_url"]}" }}

[probes.home]
path = "/"
expect = 200

[probes.unknown_page]
path = "/stackproof/no-such-page"
expect = 404

[services.postgres]
kind = "postgres"

[services.redis]
kind = "redis"

[services.auth]
kind = "app"
ports = ["http"]
links = ["postgres", "redis"]
health = {{ liveness = "/healthz", readiness = "/readyz", public_prefix = "/auth", hard_dependencies = ["postgres"] }}
remote = {{ url = "{services["auth"]["url"]}" }}

[services.bot]
kind = "app"
ports = ["http"]
links = ["postgres", "redis"]
health = {{ liveness = "/healthz", readiness = "/readyz", public_prefix = "/bot", hard_dependencies = ["postgres"] }}

[services.nginx]
kind = "nginx"
links = ["auth", "bot"]

[policy.tls]
ca_bundle = "{endpoints["ca_bundle"]}"
"""


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("running")
    endpoints_file = folder / "endpoints.json"
    output = (folder / "up.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "stackproof.cli", "up", f"--profile={REFERENCE}",
         f"--reports-dir={folder}", f"--endpoints-file={endpoints_file}", "--backend=process"],
        stdout=output,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(
            FileWritten(endpoints_file),
            timeout_s=60,
            what="stackproof up",
            give_up=lambda: None if process.poll() is None else f"exited {process.returncode}",
            log_tail=lambda: tail(folder / "up.log"),
            interval_s=0.1,
        )
        yield json.loads(endpoints_file.read_text("utf-8"))
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        output.close()


def test_non_destructive_suites_pass_against_a_running_stack(
    running_stack: dict[str, Any], tmp_path: Path
) -> None:
    profile = tmp_path / "staging.toml"
    profile.write_text(staging_profile(running_stack), "utf-8")
    run = run_suites(tmp_path / "reports", f"--profile={profile}")
    assert run.exit_code == 0, run.output[-4000:]
    results = run.results
    assert results["run"]["backend"] == "remote"
    covered = run.covered()
    assert {"R-TLS-1", "R-TLS-3", "R-TLS-5", "R-HDR-1"} <= {
        i for i, v in covered.items() if v == "pass"
    }
    # Their destructive halves (or log checks) never run here: partly tested, never a pass.
    assert {i: covered[i] for i in ("R-HDR-3", "R-HLT-1", "R-HLT-2")} == dict.fromkeys(
        ("R-HDR-3", "R-HLT-1", "R-HLT-2"), "partial"
    )
    assert set(covered.values()) <= {"pass", "partial", "skip"}
    assert covered["R-HLT-3"] == "skip"  # destructive: never on the remote backend here
    skipped = [t for r in results["requirements"] for t in r["tests"] if t["outcome"] == "skip"]
    assert skipped
    assert all(t["message"] for t in skipped), "every skip says why"


def test_an_unreachable_target_still_writes_its_report_with_error_verdicts(tmp_path: Path) -> None:
    unreachable = {
        "host": "localhost",
        "https_url": "https://localhost:9",  # discard port: nothing listens on loopback there
        "http_url": "http://localhost:9",
        "ca_bundle": str(RunCA(tmp_path).ca_path),  # a real file: the profile must be valid
        "services": {"auth": {"url": "http://127.0.0.1:9"}},
    }
    profile = tmp_path / "unreachable.toml"
    profile.write_text(staging_profile(unreachable), "utf-8")
    run = run_suites(tmp_path / "reports", f"--profile={profile}")
    assert run.exit_code != 0
    covered = run.covered()
    assert covered
    assert "error" in covered.values()
    assert "pass" not in covered.values()
    assert any("unreachable" in e for e in run.results["run"]["errors"])
    assert (run.run_dir / "report.html").exists()
    assert (run.run_dir / "junit.xml").exists()


def test_stackproof_up_names_the_fault_proxy_and_its_links(running_stack: dict[str, Any]) -> None:
    faults = running_stack["faults"]
    assert faults["toxiproxy_api"].startswith("http://127.0.0.1:")
    assert {"bot-postgres", "bot-redis", "bot-anilist", "nginx-bot"} <= set(faults["links"])
    assert faults["links"]["bot-postgres"]["proxy"] == "bot-postgres"
