"""The same suites run whichever Toxiproxy-API server carries the links: the built-in one
(every other test), one already running that the profile names by URL, or a binary the
profile names (started with toxiproxy-server's own flags). The real toxiproxy-server cannot
be installed here, so both are played by the built-in server started as an outsider would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import reference_variant, run_suites

from stackproof.run import read_manifest

pytestmark = pytest.mark.stack

FAULT_CHECKS = ("--requirement=R-HLT-4", "--requirement=R-HLT-5")  # a toxic and a disabled proxy


@pytest.fixture
def outside_server(tmp_path: Path) -> Iterator[str]:
    """A server the run did not start: the run must use it, and leave it as it found it."""
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "stackproof.toxiproxy", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
        assert server.poll() is None, "the run stopped a server it did not start"
    finally:
        server.terminate()
        server.wait(timeout=20)
        if server.stdout is not None:
            server.stdout.close()


def test_the_suites_run_against_a_server_named_by_url(tmp_path: Path, outside_server: str) -> None:
    profile = reference_variant(
        tmp_path, {"[faults]\nproxy_links = true": f'[faults.toxiproxy]\nurl = "{outside_server}"'}
    )
    run = run_suites(tmp_path / "reports", f"--profile={profile}", *FAULT_CHECKS)
    assert run.exit_code == 0, run.output[-3000:]
    assert set(run.covered().values()) == {"pass"}
    records = read_manifest(run.run_dir / "manifest.jsonl")
    assert {r["server"] for r in records if r["kind"] == "fault_server"} == {"url"}
    proxies = [r["proxy"] for r in records if r["kind"] == "fault_proxy"]
    assert proxies
    assert all(name.startswith("run.") for name in proxies)  # the run ID, then the stack
    assert httpx.get(f"{outside_server}/proxies", timeout=5).json() == {}  # none left behind


def test_the_suites_run_against_a_server_binary(tmp_path: Path) -> None:
    shim = tmp_path / "toxiproxy-server"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m stackproof.toxiproxy "$@"\n')
    shim.chmod(0o755)
    profile = reference_variant(
        tmp_path, {"[faults]\nproxy_links = true": f'[faults.toxiproxy]\nbinary = "{shim}"'}
    )
    run = run_suites(tmp_path / "reports", f"--profile={profile}", "--requirement=R-HLT-5")
    assert run.exit_code == 0, run.output[-3000:]
    assert set(run.covered().values()) == {"pass"}
    records = read_manifest(run.run_dir / "manifest.jsonl")
    servers = [r for r in records if r["kind"] == "fault_server"]
    assert servers
    assert {r["server"] for r in servers} == {"binary"}
