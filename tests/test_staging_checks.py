"""The parts of the staging gate that need no host: the `[remote]` profile, secrets, remote
addressing, and the judgments of the host checks on the host's own words (nft JSON,
iptables rules, UFW status, `docker inspect`, DSNs)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import REFERENCE, run_suites

from stackproof.backends.hosts import CommandRun
from stackproof.backends.remote.front import planned_front
from stackproof.backends.remote.runtimes import parse_env_file, process_tree, secret_values
from stackproof.backends.remote.secrets import read_secrets
from stackproof.backends.remote.services import RemoteService
from stackproof.backends.remote.ssh import SshConnector, SshTarget, UnknownHostKeyError
from stackproof.backends.values import Endpoint
from stackproof.checks.containers import ContainerPolicy, container_problems, docker_size
from stackproof.checks.dbtls import database_links, parse_link, postgres_wire
from stackproof.checks.host import firewall, parse_listener, read_iptables, read_nftables, read_ufw
from stackproof.errors import (
    BackendUnavailableError,
    CapabilityMissingError,
    PreconditionError,
    ProfileError,
)
from stackproof.profile import load_profile
from stackproof.profile.remote import SecretSource, ServiceRuntime

REMOTE = """
[remote]
ssh = "deploy@staging.example.org"
connect = { https = "127.0.0.1:8443", http = "127.0.0.1:8080" }
"""


def remote_profile(tmp_path: Path, extra: str = "", public_host: bool = True) -> Path:
    text = REFERENCE.read_text("utf-8").replace(
        'root = "../stack"', 'root = "' + str(REFERENCE.parent.parent / "stack") + '"'
    )
    if not public_host:
        text = text.replace('public_host = "localhost"\n', "")
    else:
        text = text.replace('public_host = "localhost"', 'public_host = "bot.example.org"')
    text = text.replace(
        'body_limit_path = "/bot/interactions"',
        'body_limit_path = "/bot/interactions"\n'
        'remote = { https_url = "https://staging.example.org/", http_url = "http://staging.example.org/" }',
    )
    path = tmp_path / "remote.toml"
    path.write_text(text + REMOTE + extra, "utf-8")
    return path


# --- the profile ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ('[remote.services.bot]\nsystemd = "bot.service"\ncontainer = "bot"\n', "exactly one of"),
        ("[remote.services.bot]\ncontrol = true\n", "exactly one of"),
        ('[remote.services.nobody]\nsystemd = "x.service"\n', "no service named 'nobody'"),
        ('[remote.services.bot]\nsystemd = "bot.service"\nenv_file = "bot.env"\n', "absolute path"),
        ('[remote.secrets]\nnot_a_secret = { env = "X" }\n', "is not one of secrets"),
        ('[remote.secrets]\nauth_api_key = { env = "X", file = "y" }\n', "exactly one of"),
        ("[remote.hardening]\nopen_ports = [22, 70000]\n", "not TCP ports"),
        ('[remote.services.bot]\nsystemd = "bot.service"\nlisten = "8002"\n', "listen"),
        ('[remote.services.bot]\nsystemd = "b.service"\nwipe = ["w"]\n', "needs `control"),
    ],
)
def test_a_wrong_remote_section_is_refused_with_the_key(
    tmp_path: Path, extra: str, problem: str
) -> None:
    with pytest.raises(ProfileError, match=problem):
        load_profile(remote_profile(tmp_path, extra))


def test_an_ssh_login_must_be_user_at_host(tmp_path: Path) -> None:
    path = remote_profile(tmp_path)
    path.write_text(
        path.read_text("utf-8").replace("deploy@staging.example.org", "staging"), "utf-8"
    )
    with pytest.raises(ProfileError, match=r"remote.ssh: must be user@host"):
        load_profile(path)


# --- secrets ----------------------------------------------------------------------------


def test_secrets_come_from_the_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGING_KEY", "from-the-environment")
    secret_file = tmp_path / "key"
    secret_file.write_text("from-a-file\n", "utf-8")
    values = read_secrets(
        {"a": SecretSource(env="STAGING_KEY"), "b": SecretSource(file=Path("key"))},
        tmp_path / "profile.toml",
    )
    assert values == {"a": "from-the-environment", "b": "from-a-file"}


def test_every_secret_that_is_named_but_not_set_is_told_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGING_UNSET", raising=False)
    with pytest.raises(ProfileError) as raised:
        read_secrets(
            {"a": SecretSource(env="STAGING_UNSET"), "b": SecretSource(file=Path("missing"))},
            tmp_path / "profile.toml",
        )
    message = str(raised.value)
    assert "remote.secrets.a: the environment variable STAGING_UNSET is not set" in message
    assert "export STAGING_UNSET=" in message
    assert f"remote.secrets.b: the file {tmp_path / 'missing'} cannot be read" in message


def test_a_run_with_a_secret_not_set_stops_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STACKPROOF_TEST_STAGING_API_KEY", raising=False)
    profile = remote_profile(
        tmp_path, '[remote.secrets]\nauth_api_key = { env = "STACKPROOF_TEST_STAGING_API_KEY" }\n'
    )
    run = run_suites(tmp_path / "reports", f"--profile={profile}", "--backend=remote")
    assert run.exit_code == 4, run.output[-2000:]  # a usage error: nothing ran
    assert "STACKPROOF_TEST_STAGING_API_KEY is not set" in run.output
    assert not run.run_dir.exists()


def test_values_of_a_services_environment_that_must_stay_out_of_reports() -> None:
    environment = parse_env_file(
        "# comment\nDATABASE_URL=postgresql://stack:p%40ss@db:5432/stack?sslmode=require\n"
        "AUTH_API_KEY='k3y'\nLOG_LEVEL=INFO\nexport REDIS_URL=rediss://:r3dis@cache:6379/0\n"
    )
    assert environment["AUTH_API_KEY"] == "k3y"
    assert environment["REDIS_URL"] == "rediss://:r3dis@cache:6379/0"
    found = set(secret_values(environment))
    assert {"p%40ss", "p@ss", "k3y", "r3dis"} <= found
    assert "INFO" not in found


# --- addressing (curl --resolve) ----------------------------------------------------------


def test_connect_to_one_address_while_naming_the_public_host(tmp_path: Path) -> None:
    front = planned_front(load_profile(remote_profile(tmp_path)))
    assert front.host == "bot.example.org"  # stack.public_host, honoured on remote
    assert front.https == Endpoint("127.0.0.1", 8443)
    assert front.https_authority == "bot.example.org"  # the URL's port (443), not 8443
    assert front.https_url("/healthz") == "https://bot.example.org/healthz"
    assert front.http_authority == "bot.example.org"


def test_without_public_host_the_name_is_the_urls(tmp_path: Path) -> None:
    front = planned_front(load_profile(remote_profile(tmp_path, public_host=False)))
    assert front.host == "staging.example.org"


# --- the host's own words -----------------------------------------------------------------


def nft(policy: str, *rules: list[dict[str, Any]]) -> dict[str, Any]:
    chain = {
        "family": "inet",
        "table": "filter",
        "name": "input",
        "hook": "input",
        "policy": policy,
    }
    items: list[dict[str, Any]] = [{"chain": chain}]
    items += [
        {"rule": {"family": "inet", "table": "filter", "chain": "input", "expr": r}} for r in rules
    ]
    return {"nftables": items}


LOOPBACK = [
    {"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}},
    {"accept": None},
]
WEB = [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                  "right": {"set": [22, 80, 443]}}}, {"accept": None}]  # fmt: skip
DB = [
    {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": "tcp", "field": "dport"}},
            "right": 5432,
        }
    },
    {"accept": None},
]


def test_nftables_default_drop_with_the_web_ports() -> None:
    wall = read_nftables(nft("drop", LOOPBACK, WEB))
    assert wall.denies_by_default
    assert wall.accepted_ports == {22, 80, 443}


def test_nftables_that_accept_by_default_or_accept_everything_do_not_deny() -> None:
    assert not read_nftables(nft("accept", WEB)).denies_by_default
    everything = read_nftables(nft("drop", LOOPBACK, [{"accept": None}]))
    assert everything.accepts_everything
    assert not everything.denies_by_default
    assert read_nftables(nft("drop", WEB, DB)).accepted_ports == {22, 80, 443, 5432}
    assert read_nftables({"nftables": []}).default_input is None


def test_iptables_and_ufw_as_they_print_their_rules() -> None:
    rules = "-P INPUT DROP\n-A INPUT -i lo -j ACCEPT\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
    wall = read_iptables(rules)
    assert wall.denies_by_default
    assert wall.accepted_ports == {22}
    assert not read_iptables("-P INPUT ACCEPT\n").denies_by_default
    status = "Status: active\nDefault: deny (incoming), allow (outgoing)\n\nTo Action From\n22/tcp LIMIT Anywhere\n443 ALLOW Anywhere\n"
    ufw = read_ufw(status)
    assert ufw.denies_by_default
    assert ufw.accepted_ports == {22, 443}
    assert read_ufw("Status: inactive\n").default_input is None


def test_listeners_as_testinfra_names_them() -> None:
    assert parse_listener("tcp://0.0.0.0:22").port == 22  # type: ignore[union-attr]
    ipv6 = parse_listener("tcp://:::22")
    assert ipv6 is not None
    assert ipv6.address == "::"
    assert not ipv6.loopback
    assert parse_listener("tcp://127.0.0.1:5432").loopback  # type: ignore[union-attr]
    assert parse_listener("unix:///run/x.sock") is None


def test_a_services_processes_are_its_main_process_and_descendants() -> None:
    table = (
        " 1 0 root /sbin/init\n 10 1 refstack uvicorn\n 11 10 refstack worker\n 12 1 root sshd\n"
    )
    assert [(p.pid, p.user) for p in process_tree(table, 10)] == [
        (10, "refstack"),
        (11, "refstack"),
    ]
    assert process_tree(table, 99) == []


# --- containers (R-HOST-5), from docker inspect ------------------------------------------


def inspect(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "Name": "/bot",
        "HostConfig": {
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}},
            "RestartPolicy": {"Name": "unless-stopped"},
        },
        "Config": {"Healthcheck": {"Test": ["CMD", "curl", "-f", "http://localhost/health"]}},
    }
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = document
        for key in parents:
            target = target[key]
        target[last] = value
    return document


def test_a_container_as_seed_001_runs_it_has_no_problem() -> None:
    assert container_problems(inspect(), ContainerPolicy()) == {}
    assert docker_size("10m") == 10 * 1024 * 1024


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        (
            {"HostConfig__LogConfig": {"Type": "json-file", "Config": {}}},
            "bot: logs",
            "without bound",
        ),
        (
            {
                "HostConfig__LogConfig": {
                    "Type": "json-file",
                    "Config": {"max-size": "50m", "max-file": "3"},
                }
            },
            "bot: logs",
            "exceeds 10m",
        ),
        ({"HostConfig__LogConfig": {"Type": "local", "Config": {}}}, "bot: logs", "20m exceeds"),
        ({"HostConfig__LogConfig": {"Type": "none", "Config": {}}}, "bot: logs", "'none'"),
        (
            {
                "HostConfig__LogConfig": {
                    "Type": "json-file",
                    "Config": {"max-size": "10m", "max-file": "9"},
                }
            },
            "bot: logs",
            "max-file 9",
        ),
        ({"HostConfig__RestartPolicy": {"Name": "no"}}, "bot: restart", "'no'"),
        ({"HostConfig__RestartPolicy": {"Name": "always"}}, "bot: restart", "'always'"),
        ({"Config__Healthcheck": {"Test": ["NONE"]}}, "bot: healthcheck", "no health check"),
        ({"Config": {}}, "bot: healthcheck", "no health check"),
    ],
)
def test_each_container_problem_is_found_under_its_key(
    changes: dict[str, Any], key: str, words: str
) -> None:
    found = container_problems(inspect(**changes), ContainerPolicy())
    assert list(found) == [key]
    assert words in found[key]


def test_a_real_docker_inspect_document_reads(tmp_path: Path) -> None:
    """The shape `docker inspect` prints (trimmed), as the compose backend will hand it over."""
    document = json.loads(json.dumps([inspect()]))[0]
    assert (
        container_problems(document, ContainerPolicy(restart_policies=("always", "unless-stopped")))
        == {}
    )


# --- database links (R-TLS-8, R-HOST-6) ---------------------------------------------------


def test_dsns_are_found_and_judged() -> None:
    links = database_links({
        "bot": {
            "DATABASE_URL": "postgresql://stack:pw@db.internal:5432/stack?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            "REDIS_URL": "redis://:pw@cache.internal:6379/0",
            "LOCAL_URL": "postgresql://stack@127.0.0.1/stack",
            "SOCKET_URL": "postgresql://stack@%2Frun%2Fpostgresql/stack",
            "OTHER": "https://example.org/",
        }
    })  # fmt: skip
    by_variable = {link.variable: link for link in links}
    assert set(by_variable) == {"DATABASE_URL", "REDIS_URL", "LOCAL_URL", "SOCKET_URL"}
    own = {"10.0.0.5"}
    assert by_variable["DATABASE_URL"].leaves(own)
    assert by_variable["DATABASE_URL"].config_problem() is None
    assert by_variable["DATABASE_URL"].ca_file == "/etc/ca.pem"
    assert "rediss://" in (by_variable["REDIS_URL"].config_problem() or "")
    assert not by_variable["LOCAL_URL"].leaves(own)
    assert not by_variable["SOCKET_URL"].leaves(own)
    assert not parse_link("bot", "X", "postgresql://u@10.0.0.5/db").leaves(own)  # type: ignore[union-attr]
    no_mode = parse_link("bot", "X", "postgresql://u@db.internal/db")
    assert "no sslmode" in (no_mode.config_problem() or "")  # type: ignore[union-attr]
    disabled = parse_link("bot", "X", "postgresql://u@db.internal/db?sslmode=prefer")
    assert "sslmode=prefer" in (disabled.config_problem() or "")  # type: ignore[union-attr]


@pytest.fixture
def answers_n() -> Iterator[Endpoint]:
    """A listener that answers an SSLRequest with 'N', as a PostgreSQL without TLS does."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = server.accept()
        with connection:
            assert connection.recv(8) == b"\x00\x00\x00\x08\x04\xd2\x16\x2f"
            connection.sendall(b"N")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield Endpoint("127.0.0.1", server.getsockname()[1])
    thread.join(timeout=5)
    server.close()


def test_a_server_that_answers_n_speaks_no_tls(answers_n: Endpoint) -> None:
    found = postgres_wire(answers_n, "db.internal", None)
    assert not found.tls
    assert "'N'" in found.detail


# --- SSH refusals that need no host ---------------------------------------------------------


def _target(tmp_path: Path, port: int, known_hosts: Path | None = None) -> SshTarget:
    return SshTarget(
        "deploy", "127.0.0.1", port, known_hosts or tmp_path / "known_hosts", None, 2.0
    )


def test_a_missing_known_hosts_file_is_refused_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(UnknownHostKeyError, match="does not exist, so no host key"):
        SshConnector(_target(tmp_path, 22)).connect()


def test_an_unreachable_port_says_so(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("", "utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(BackendUnavailableError, match="is unreachable"):
        SshConnector(_target(tmp_path, port, known)).connect()


class AnsweringHost:
    """A `HostAccess` double answering `root` commands from a table (the reading logic's
    test; the real host is in test_staging_hosts.py)."""

    def __init__(self, answers: dict[str, CommandRun]) -> None:
        self.answers = answers

    def root(self, argv: list[str]) -> CommandRun:
        return self.answers[argv[0]]


def ran(exit_status: int, stdout: str = "", stderr: str = "") -> CommandRun:
    return CommandRun("cmd", exit_status, stdout, stderr)


NOT_FOUND = ran(1, stderr="sudo: ufw: command not found")
REFUSED = ran(1, stderr="sudo: a password is required")


def test_the_firewall_is_read_from_nftables_first() -> None:
    host = AnsweringHost(
        {"nft": ran(0, json.dumps(nft("drop", WEB))), "ufw": NOT_FOUND, "iptables": NOT_FOUND}
    )
    assert firewall(host).kind == "nftables"  # type: ignore[arg-type]


def test_nftables_without_an_input_chain_and_nothing_else_is_no_firewall() -> None:
    host = AnsweringHost(
        {"nft": ran(0, json.dumps({"nftables": []})), "ufw": NOT_FOUND, "iptables": NOT_FOUND}
    )
    wall = firewall(host)  # type: ignore[arg-type]
    assert wall.default_input is None
    assert not wall.denies_by_default


def test_no_firewall_tool_at_all_is_a_finding_not_an_error() -> None:
    missing = ran(127, stderr="sh: nft: not found")
    host = AnsweringHost({"nft": missing, "ufw": missing, "iptables": missing})
    assert firewall(host).kind == "none"  # type: ignore[arg-type]


def test_a_firewall_the_login_may_not_read_is_an_error_naming_the_commands() -> None:
    host = AnsweringHost({"nft": REFUSED, "ufw": REFUSED, "iptables": REFUSED})
    with pytest.raises(PreconditionError, match="sudo -n"):
        firewall(host)  # type: ignore[arg-type]


# --- destructive checks: staging with --allow-destructive only, production never ----------


@pytest.mark.parametrize(
    ("environment", "flags", "reason"),
    [
        ("production", ["--allow-destructive"], "never run against a production profile"),
        ("staging", [], "--allow-destructive"),
        ("test", ["--allow-destructive"], "environment = 'staging'"),
    ],
)
def test_destructive_checks_on_a_remote_stack_need_staging_and_the_flag(
    tmp_path: Path, environment: str, flags: list[str], reason: str
) -> None:
    profile = remote_profile(tmp_path)
    text = profile.read_text("utf-8").replace(
        'environment = "test"', f'environment = "{environment}"'
    )
    profile.write_text(text, "utf-8")
    run = run_suites(tmp_path / "reports", f"--profile={profile}", "--backend=remote",
                     "--requirement=R-HLT-3", *flags)  # fmt: skip
    tests = [t for r in run.results["requirements"] if r["id"] == "R-HLT-3" for t in r["tests"]]
    assert tests
    assert {t["outcome"] for t in tests} == {"skip"}
    assert all(reason in (t["message"] or "") for t in tests), tests


def test_staging_with_the_flag_lets_destructive_checks_try(tmp_path: Path) -> None:
    """They then meet the (unreachable) stack: an error, not a skip for the guard's reason."""
    profile = remote_profile(tmp_path)
    profile.write_text(
        profile.read_text("utf-8").replace('environment = "test"', 'environment = "staging"'),
        "utf-8",
    )
    run = run_suites(tmp_path / "reports", f"--profile={profile}", "--backend=remote",
                     "--requirement=R-HLT-3", "--allow-destructive")  # fmt: skip
    tests = [t for r in run.results["requirements"] if r["id"] == "R-HLT-3" for t in r["tests"]]
    assert tests
    assert not any("destructive" in (t["message"] or "") for t in tests if t["outcome"] == "skip")


# --- destroying a service's state on the host (the restore drills' lost disk) -------------


class RecordingRuntime:
    """A `Runtime` double: records control actions and host commands, running until killed."""

    def __init__(self, settings: ServiceRuntime, wipe_status: int = 0) -> None:
        self.name, self.settings, self.actions = "postgres", settings, []
        self.host = self
        self.target = SshTarget("deploy", "staging.example.org", 22, Path("kh"), None, 5.0)
        self._running, self._wipe_status = True, wipe_status

    def control(self, action: str) -> None:
        self.actions.append(action)
        if action in ("kill", "stop"):
            self._running = False

    def identity(self) -> str | None:
        return "postgres.service:7@1" if self._running else None

    def run(self, command: str) -> CommandRun:
        self.actions.append(command)
        return ran(self._wipe_status, stderr="" if self._wipe_status == 0 else "no such dir")


def _service(runtime: RecordingRuntime) -> RemoteService:
    return RemoteService("postgres", "postgres", None, runtime)  # type: ignore[arg-type]


def test_destroy_kills_keeps_down_then_runs_the_hosts_wipe() -> None:
    settings = ServiceRuntime(systemd="pg.service", control=True, wipe=["sudo", "-n", "wipe-pg"])
    runtime = RecordingRuntime(settings)
    _service(runtime).destroy()
    assert runtime.actions == ["kill", "stop", "sudo -n wipe-pg"]


def test_destroy_without_a_wipe_command_skips_naming_the_key() -> None:
    runtime = RecordingRuntime(ServiceRuntime(systemd="pg.service", control=True))
    with pytest.raises(CapabilityMissingError) as caught:
        _service(runtime).destroy()
    assert "remote.services.postgres.wipe" in caught.value.reason()
    assert runtime.actions == []  # nothing was killed that could not be wiped


def test_a_wipe_that_fails_is_an_error_not_a_finding() -> None:
    settings = ServiceRuntime(systemd="pg.service", control=True, wipe=["wipe-pg"])
    with pytest.raises(PreconditionError, match=r"remote\.services\.postgres\.wipe"):
        _service(RecordingRuntime(settings, wipe_status=1)).destroy()


def test_a_wipe_needs_control() -> None:
    with pytest.raises(ValueError, match="needs `control = true`"):
        ServiceRuntime(systemd="pg.service", wipe=["wipe-pg"])
