"""The fault layer's parts without a stack: link proxies on each kind of server, clear
errors for a server that is not there, and partitions that remove exactly their own rules."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REFERENCE, reference_variant

from stackproof.backends.base import Endpoint
from stackproof.backends.process import ProcessBackend
from stackproof.backends.process.links import LinkNetwork
from stackproof.backends.process.partitions import LoopbackPartitions, tagged_rules, unavailable
from stackproof.errors import MissingBinaryError, ProfileError, ServiceStartError
from stackproof.procs import run_processes
from stackproof.profile import load_profile
from stackproof.profile.chaos import FaultSettings, ToxiproxySettings
from stackproof.run import RunContext, read_manifest
from stackproof.toxiproxy import ServerThread, ToxiproxyClient


class Echo:
    """A loopback TCP echo server (the linked service)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data)


@pytest.fixture
def echo() -> Iterator[Echo]:
    server = Echo()
    yield server
    server.listener.close()


def roundtrip(endpoint: Endpoint, timeout_s: float = 3.0) -> bytes:
    with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s) as conn:
        conn.sendall(b"ping")
        return conn.recv(16)


def test_the_builtin_server_is_a_process_of_the_run(tmp_path: Path, echo: Echo) -> None:
    run = RunContext("net-builtin", tmp_path / "run")
    network = LinkNetwork(FaultSettings(), run, "main")
    network.start()
    try:
        listen = network.route("bot", "echo", Endpoint("127.0.0.1", echo.port))
        assert roundtrip(listen) == b"ping"
        assert network.links["bot-echo"].proxy == "bot-echo"  # named after the link
        assert network.pid in run_processes("net-builtin")
        with network.client.disabled("bot-echo"), pytest.raises(ConnectionRefusedError):
            roundtrip(listen, timeout_s=1.0)
        assert roundtrip(listen) == b"ping"
    finally:
        network.close()
    assert run_processes("net-builtin") == []
    kinds = [r["kind"] for r in read_manifest(run.manifest_path)]
    assert kinds[:2] == ["fault_server", "process"]
    assert {"fault_proxy", "fault_proxy_removed", "fault_server_stopped"} <= set(kinds)


def test_a_server_named_by_url_is_a_host_the_run_visits(tmp_path: Path, echo: Echo) -> None:
    with ServerThread() as server, ToxiproxyClient(server.url) as api:
        api.create_proxy("someone-elses", f"127.0.0.1:{echo.port}")
        run = RunContext("net-url", tmp_path / "run")
        network = LinkNetwork(
            FaultSettings(toxiproxy=ToxiproxySettings(url=server.url)), run, "t01"
        )
        network.start()
        listen = network.route("bot", "echo", Endpoint("127.0.0.1", echo.port))
        assert roundtrip(listen) == b"ping"
        assert set(api.proxies()) == {"someone-elses", "net-url.t01.bot-echo"}
        network.close()
        assert set(api.proxies()) == {"someone-elses"}  # only its own proxy went


def test_a_url_that_does_not_answer_says_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    settings = FaultSettings(toxiproxy=ToxiproxySettings(url=f"http://127.0.0.1:{port}"))
    network = LinkNetwork(settings, RunContext("net-gone", tmp_path / "run"), "main")
    with pytest.raises(ServiceStartError, match=r"faults\.toxiproxy\.url") as raised:
        network.start()
    assert "start toxiproxy-server there" in "\n".join(raised.value.__notes__)


def test_fault_settings_are_checked_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="not on loopback"):
        load_profile(
            reference_variant(
                tmp_path,
                {
                    "[faults]\nproxy_links = true": '[faults.toxiproxy]\nurl = "http://10.1.2.3:8474"'
                },
            )
        )
    with pytest.raises(ProfileError, match="not both"):
        load_profile(
            reference_variant(
                tmp_path,
                {
                    "[faults]\nproxy_links = true": '[faults.toxiproxy]\nurl = "http://127.0.0.1:8474"\nbinary = "x"'
                },
            )
        )
    missing = load_profile(
        reference_variant(
            tmp_path,
            {
                "[faults]\nproxy_links = true": '[faults.toxiproxy]\nbinary = "/nonexistent/toxiproxy-server"'
            },
        )
    )
    with pytest.raises(MissingBinaryError, match=r"faults\.toxiproxy\.binary"):
        ProcessBackend().check(missing)


@pytest.mark.parametrize(
    ("replacements", "expected"),
    [
        pytest.param(
            {'service = "bot"\npath': 'service = "bots"\npath'},
            "command.service: no service named 'bots'",
            id="command-service",
        ),
        pytest.param(
            {'cache = "redis"': 'cache = "postgres"'},
            "command.cache: 'postgres' is a postgres service, not redis",
            id="command-cache-kind",
        ),
        pytest.param(
            {"interaction_id = %s": "interaction_id = %s OR %s"},
            "one %s parameter",
            id="count-query",
        ),
        pytest.param(
            {'"--state-file", "{{ state_file }}"': '"--state-file", "{{ state_fiel }}"'},
            "uptime_monitor: command[7]: unknown placeholder {{ state_fiel }}",
            id="monitor-placeholder",
        ),
        pytest.param(
            {
                'restart = { policy = "on-failure" }  # the': 'restart = { policy = "sometimes" }  # the'
            },
            "services.auth.process.restart.policy",
            id="restart-policy",
        ),
    ],
)
def test_chaos_settings_name_the_wrong_key(
    tmp_path: Path, replacements: dict[str, str], expected: str
) -> None:
    with pytest.raises(ProfileError, match=re.escape(expected)):
        load_profile(reference_variant(tmp_path, replacements))


def test_the_reference_profile_supervises_its_apps() -> None:
    profile = load_profile(REFERENCE)
    assert {n for n, s in profile.services.items() if s.process.restart.enabled} == {"auth", "bot"}
    assert profile.faults.toxiproxy.kind == "builtin"


needs_partitions = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@needs_partitions
def test_a_partition_drops_exactly_its_ports_and_leaves_no_rule(tmp_path: Path, echo: Echo) -> None:
    other = Echo()
    run = RunContext("partition-unit", tmp_path / "run")
    partitions = LoopbackPartitions(run, "main", lambda service: [echo.port])
    try:
        with partitions.isolated("echo"):
            rules = tagged_rules(partitions.tag)
            assert any(f"--dport {echo.port}" in rule for rule in rules)
            assert all(partitions.tag in rule or partitions.chain in rule for rule in rules)
            with pytest.raises(TimeoutError):  # dropped: no answer, not even a refusal
                roundtrip(Endpoint("127.0.0.1", echo.port), timeout_s=1.0)
            assert roundtrip(Endpoint("127.0.0.1", other.port)) == b"ping"
        assert roundtrip(Endpoint("127.0.0.1", echo.port)) == b"ping"
    finally:
        partitions.close()
        other.listener.close()
    assert tagged_rules(partitions.tag) == []
    assert (
        subprocess.run(
            ["iptables", "-w", "5", "-S", partitions.chain], capture_output=True, check=False
        ).returncode
        != 0
    )


def test_partitions_say_why_they_cannot_be_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert unavailable() == "iptables partitions need root, and this run is not root"
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert "apt-get install iptables" in str(unavailable())
    assert sys.executable  # the interpreter itself is untouched by the patches
