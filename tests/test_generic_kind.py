"""The generic service kind: a service stackproof does not know, described by its profile.

Its settings are checked before anything starts, each error naming the key; on the process
backend it comes up behind each kind of readiness (a TCP accept, an HTTP status, a command),
as an unprivileged user where the harness is root, and its links are faulted like any other;
compose refuses, saying why, what it could not prove ready.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import psutil
import pytest
from support import GUESTBOOK_EXAMPLE, ROOT

from stackproof.backends.compose.readiness import generic_problems
from stackproof.backends.process import ProcessBackend, ProcessStack
from stackproof.errors import ProfileError, ServiceStartError
from stackproof.faults.injector import StackFaults
from stackproof.procs import UNPRIVILEGED_UID, is_root, run_processes
from stackproof.profile import Profile, load_profile
from stackproof.run import RunContext

SERVE = (
    '["{{ python }}", "-m", "http.server", "--bind", "127.0.0.1", '
    '"--directory", "{{ dir.state }}", "{{ port.http }}"]'
)
CONNECTS = (
    '["{{ python }}", "-c", '
    "\"import socket; socket.create_connection(('127.0.0.1', {{ port.http }}), 1)\"]"
)


def profile_text(
    web_generic: str = "", web_scheme: str = 'scheme = "http"', client_generic: str = ""
) -> str:
    """Two generic services, `web` and `client` (which links to `web`), each a static HTTP
    server; `client` is the front, so no nginx is needed."""
    return textwrap.dedent(
        """\
        name = "generic-kind"

        [public]
        service = "client"
        https_port = "http"
        http_port = "http"

        [stack]
        root = "."

        [services.web]
        kind = "generic"
        ports = ["http"]

        [services.web.generic]
        {web_scheme}
        {web_generic}

        [services.web.process]
        command = {serve}
        ready_timeout_s = 3

        [services.client]
        kind = "generic"
        ports = ["http"]
        links = ["web"]

        [services.client.generic]
        {client_generic}

        [services.client.process]
        command = {serve}
        env = {{ WEB_URL = "{{{{ link.web.url }}}}", WEB_PORT = "{{{{ link.web.port }}}}" }}
        """
    ).format(
        serve=SERVE, web_generic=web_generic, web_scheme=web_scheme, client_generic=client_generic
    )


def write_profile(folder: Path, text: str) -> Path:
    path = folder / "profile.toml"
    path.write_text(text, "utf-8")
    return path


def generic_profile(folder: Path, **parts: str) -> Profile:
    return load_profile(write_profile(folder, profile_text(**parts)))


# --- the profile -----------------------------------------------------------------------


def test_a_generic_service_defaults_to_a_tcp_accept_on_its_first_port(tmp_path: Path) -> None:
    profile = generic_profile(tmp_path)
    ProcessBackend().check(profile)
    web = profile.services["web"].generic_settings
    assert web.ready is None  # the first port accepting
    assert web.scheme == "http"
    assert profile.services["client"].generic_settings.scheme == "tcp"  # the default
    assert web.unprivileged
    assert profile.start_order() == [["web"], ["client"]]


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        pytest.param(
            {"web_generic": 'ready = { tcp = "http", http = "/" }'},
            "services.web.generic.ready: say exactly one of tcp (a port name), http (a path) "
            "or command (an argv), got tcp, http",
            id="two-readiness-kinds",
        ),
        pytest.param(
            {"web_generic": "ready = { status = 204 }"},
            "services.web.generic.ready: say exactly one of tcp",
            id="no-readiness-kind",
        ),
        pytest.param(
            {"web_generic": 'ready = { http = "healthz" }'},
            "services.web.generic.ready.http",
            id="relative-http-path",
        ),
        pytest.param(
            {"web_generic": 'ready = { tcp = "http", port = "http" }'},
            "services.web.generic.ready: 'port' goes with 'http'",
            id="port-without-http",
        ),
        pytest.param(
            {"web_generic": 'ready = { tcp = "mysql" }'},
            "generic.ready: no port named 'mysql' (the service has http)",
            id="unknown-port",
        ),
        pytest.param(
            {"web_generic": 'ready = { http = "/", status = 99 }'},
            "services.web.generic.ready.status",
            id="status-out-of-range",
        ),
        pytest.param(
            {"web_generic": "ready = { command = [] }"},
            "services.web.generic.ready.command",
            id="empty-command",
        ),
        pytest.param(
            {"web_scheme": 'scheme = "AMQP://"'},
            "services.web.generic.scheme",
            id="bad-scheme",
        ),
        pytest.param(
            {"web_generic": 'redy = { tcp = "http" }'},
            "services.web.generic.redy: unknown key",
            id="misspelt-key",
        ),
    ],
)
def test_bad_generic_settings_name_the_key(
    tmp_path: Path, parts: dict[str, str], expected: str
) -> None:
    with pytest.raises(ProfileError) as raised:
        generic_profile(tmp_path, **parts)
    assert expected in str(raised.value)


def test_generic_settings_belong_to_generic_services(tmp_path: Path) -> None:
    text = profile_text().replace(
        '[services.web]\nkind = "generic"', '[services.web]\nkind = "app"'
    )
    with pytest.raises(ProfileError, match="'generic' is for generic services, this one is app"):
        load_profile(write_profile(tmp_path, text))


def test_a_generic_service_without_ports_or_command_is_refused(tmp_path: Path) -> None:
    no_ports = profile_text().replace(
        'kind = "generic"\nports = ["http"]\n\n', 'kind = "generic"\n\n', 1
    )
    with pytest.raises(ProfileError, match="a generic service must name its ports"):
        load_profile(write_profile(tmp_path, no_ports))
    no_command = profile_text().replace(f"command = {SERVE}\nready_timeout_s = 3\n", "", 1)
    with pytest.raises(
        ProfileError,
        match=r"services.web.process.command: a generic service needs a command to run on the "
        "process backend",
    ):
        ProcessBackend().check(load_profile(write_profile(tmp_path, no_command)))


# --- the process backend ---------------------------------------------------------------


Up = Callable[[Profile], ProcessStack]


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    """`up(profile)`: the stack on the process backend, taken down after the test."""
    with ExitStack() as stacks:
        runs: list[RunContext] = []

        def bring_up(profile: Profile) -> ProcessStack:
            ProcessBackend().check(profile)
            run = RunContext(f"generic-kind-{len(runs)}", tmp_path / f"run{len(runs)}")
            runs.append(run)
            return stacks.enter_context(ProcessBackend().up(profile, run, "main"))

        yield bring_up
    for run in runs:
        assert run_processes(run.run_id) == [], "the stack left processes behind"


def _get(port: int, path: str = "/") -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        return conn.recv(64).decode(errors="replace")


@pytest.mark.stack
@pytest.mark.parametrize(
    "ready",
    [
        pytest.param("", id="tcp-default"),
        pytest.param('ready = { tcp = "http" }', id="tcp"),
        pytest.param('ready = { http = "/", port = "http", status = 200 }', id="http"),
        pytest.param(f"ready = {{ command = {CONNECTS}, timeout_s = 2 }}", id="command"),
    ],
)
def test_a_generic_service_comes_up_behind_each_readiness(
    tmp_path: Path, up: Up, ready: str
) -> None:
    stack = up(generic_profile(tmp_path, web_generic=ready))
    web = stack.service("web").endpoint()
    assert _get(web.port).startswith("HTTP/1.0 200")
    # The link's facts carry the scheme, and point at the link's proxy, not at the server.
    link = stack.network.link("client-web")
    assert link.upstream == web
    (client,) = [
        p for p in run_processes(stack.run.run_id) if "WEB_URL" in psutil.Process(p).environ()
    ]
    environ = psutil.Process(client).environ()
    assert environ["WEB_URL"] == f"http://{link.listen.address}"
    assert environ["WEB_PORT"] == str(link.listen.port)


@pytest.mark.stack
def test_servers_that_refuse_root_run_unprivileged(tmp_path: Path, up: Up) -> None:
    if not is_root():
        pytest.skip("the harness is not root: nothing to drop (run as root to check it)")
    stack = up(generic_profile(tmp_path))
    web = stack.service("web").endpoint()
    (server,) = [
        c.pid
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == web.port
    ]
    assert psutil.Process(server).uids().real == UNPRIVILEGED_UID


@pytest.mark.stack
@pytest.mark.parametrize(
    ("ready", "expected"),
    [
        pytest.param('ready = { http = "/missing" }', "/missing", id="http-status"),
        pytest.param(
            'ready = { command = ["{{ python }}", "-c", "raise SystemExit(3)"] }',
            "exit",
            id="command-fails",
        ),
    ],
)
def test_a_readiness_that_never_holds_is_a_start_error_naming_the_service(
    tmp_path: Path, up: Up, ready: str, expected: str
) -> None:
    with pytest.raises(ServiceStartError) as raised:
        up(generic_profile(tmp_path, web_generic=ready))
    told = str(raised.value) + "\n".join(getattr(raised.value, "__notes__", []))
    assert "web" in told
    assert expected in told


@pytest.mark.stack
def test_a_link_to_a_generic_service_is_faulted_like_any_other(tmp_path: Path, up: Up) -> None:
    stack = up(generic_profile(tmp_path))
    link = stack.network.link("client-web")
    faults = StackFaults(stack)
    try:
        # Given the link answers; when it is down, it refuses; afterwards it answers again.
        assert _get(link.listen.port).startswith("HTTP/1.0 200")
        with faults.down("client-web"), pytest.raises(ConnectionRefusedError):
            _get(link.listen.port)
        assert _get(link.listen.port).startswith("HTTP/1.0 200")
        with faults.latency("client-web", 400):
            assert faults.client.toxics(link.proxy), "the latency is on the link's proxy"
        assert not faults.client.toxics(link.proxy), "the fault removed itself"
    finally:
        faults.close()


# --- compose ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ready", "healthcheck", "expected"),
    [
        pytest.param('ready = { http = "/" }', False, None, id="http-proves-itself"),
        pytest.param('ready = { tcp = "http" }', True, None, id="tcp-with-healthcheck"),
        pytest.param("", True, None, id="default-with-healthcheck"),
        pytest.param(
            'ready = { tcp = "http" }', False, "a TCP accept proves nothing", id="tcp-alone"
        ),
        pytest.param("", False, "a healthcheck for web in the compose file", id="default-alone"),
        pytest.param(
            f"ready = {{ command = {CONNECTS} }}",
            True,
            "services.web.generic.ready.command: a readiness command runs on the process "
            "backend only",
            id="command",
        ),
    ],
)
def test_compose_refuses_a_generic_readiness_it_cannot_prove(
    tmp_path: Path, ready: str, healthcheck: bool, expected: str | None
) -> None:
    profile = generic_profile(tmp_path, web_generic=ready, client_generic='ready = { http = "/" }')
    problems = generic_problems(profile, has_healthcheck=lambda name: healthcheck)
    if expected is None:
        assert problems == []
    else:
        (problem,) = problems
        assert expected in problem
        assert problem.startswith("services.web.generic.ready")


# --- remote: the service runs already; the plan says what cannot be done there ----------


def test_the_plan_on_a_staging_host_explains_every_skip_of_a_generic_stack(
    tmp_path: Path,
) -> None:
    text = GUESTBOOK_EXAMPLE.read_text("utf-8").replace(
        '[public]\nbody_limit_path = "/api/entries"',
        '[public]\nbody_limit_path = "/api/entries"\n'
        'remote = { https_url = "https://guestbook.stackproof.test:8443" }',
    )
    assert "remote = {" in text
    text = text.replace("[stack]", 'environment = "staging"\n\n[stack]', 1)
    path = tmp_path / "staging.toml"
    path.write_text(text, "utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "stackproof.cli", "plan", "--json", f"--profile={path}",
         "--backend=remote", "--allow-destructive"],
        capture_output=True, text=True, timeout=120, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {r["id"]: r for r in json.loads(done.stdout)["requirements"]}
    skipped = [t for r in rows.values() for t in r["tests"] if not t["runs"]]
    assert skipped
    assert all(t["why"] for t in skipped)
    for requirement in ("R-BAK-1", "R-BAK-3", "R-SEC-1"):
        assert all("PostgreSQL" in t["why"] for t in rows[requirement]["tests"])
    faulted = rows["R-HLT-4"]["tests"]
    assert all("fault proxy" in t["why"] for t in faulted if not t["runs"])
