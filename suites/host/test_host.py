"""Host and container hardening (R-HOST-1..6), judged from the host itself over SSH and, for
what is open to the outside, by a probe from another machine's place on the host's network.

Each test gathers everything wrong on the host and fails once. A fact the login may not read
(a firewall without `sudo -n`) is an error naming the command, never a finding.
"""

from __future__ import annotations

import socket
from pathlib import Path, PurePosixPath

import pytest

from stackproof.backends import Stack
from stackproof.backends.hosts import HostAccess, HostedService
from stackproof.checks.containers import ContainerPolicy, container_problems
from stackproof.checks.dbtls import database_links, server_version_num
from stackproof.checks.evidence import Evidence
from stackproof.checks.host import (
    ProbeResult,
    fail2ban_jail,
    firewall,
    listeners,
    own_addresses,
    private_container_address,
    probe_from_container,
)
from stackproof.checks.problems import Problems
from stackproof.profile import Profile
from stackproof.profile.remote import HostPolicy

ROOT_USERS = frozenset({"root", "0"})


def _hosted(host: HostAccess) -> dict[str, HostedService]:
    services = dict(host.services())
    if not services:
        pytest.skip("the profile says of no service how it runs on the host (remote.services)")
    return services


@pytest.mark.requirement("R-HOST-1")
@pytest.mark.needs("host_commands")
def test_only_ssh_and_web_ports_are_let_in_by_the_firewall(
    host: HostAccess, hardening: HostPolicy, evidence: Evidence
) -> None:
    """The host's own view: its listening sockets and its firewall's rules."""
    allowed = set(hardening.open_ports)
    wall = firewall(host)
    sockets = listeners(host)
    evidence.add("firewall", {"kind": wall.kind, "default input": wall.default_input,
                              "accepted tcp ports": sorted(wall.accepted_ports),
                              "detail": wall.detail})  # fmt: skip
    evidence.add("listening", [s.describe() for s in sockets])
    problems = Problems(f"ports open to the outside of {host.name} (allowed: {sorted(allowed)})")
    if wall.default_input is None:
        problems.add("firewall", f"no firewall denies by default ({wall.detail or wall.kind})")
    elif not wall.denies_by_default:
        reason = "a rule accepts everything" if wall.accepts_everything else "policy"
        problems.add(
            "firewall", f"{wall.kind} input default is {wall.default_input} ({reason}), not deny"
        )
    if extra := sorted(wall.accepted_ports - allowed):
        problems.add("rules", f"{wall.kind} accepts tcp ports {extra} from anywhere")
    for listener in sockets:
        if listener.loopback or listener.port in allowed:
            continue
        if not wall.denies_by_default or listener.port in wall.accepted_ports:
            problems.add(
                f"port {listener.port}",
                f"{listener.describe()} listens and the firewall lets it in",
            )
    problems.raise_if_any()


def _probe(stack: Stack, profile: Profile, ports: set[int]) -> ProbeResult:
    probe = profile.remote.probe
    assert probe is not None
    if probe.docker_network is not None:
        assert probe.image is not None  # validated
        return probe_from_container(
            run_id=stack.run.run_id, network=probe.docker_network, image=probe.image,
            address=probe.address, ports=ports,
        )  # fmt: skip
    states = {}
    for port in sorted(ports):  # from this machine, to the host's public address
        try:
            with socket.create_connection((probe.address, port), timeout=2.0):
                states[port] = "open"
        except TimeoutError:
            states[port] = "filtered"
        except OSError:
            states[port] = "closed"
    return ProbeResult(f"this machine, to {probe.address}", states)


@pytest.mark.requirement("R-HOST-1")
@pytest.mark.needs("outside_probe")
def test_only_ssh_and_web_ports_answer_from_outside(
    stack: Stack, host: HostAccess, profile: Profile, hardening: HostPolicy, evidence: Evidence
) -> None:
    """The outside's view: every port the host listens on, tried from another machine."""
    if profile.remote.probe is None:
        pytest.skip(
            "no outside vantage point for the probe (to enable: remote.probe, the host's "
            "address from another machine)"
        )
    allowed = set(hardening.open_ports)
    ports = {s.port for s in listeners(host) if not s.loopback} | allowed
    result = _probe(stack, profile, ports)
    evidence.add("probe", {"from": result.vantage, "states": result.states})
    problems = Problems(f"ports answering from outside {host.name} (allowed: {sorted(allowed)})")
    for port in result.open_ports:
        problems.expect(port in allowed, f"port {port}", f"answers from {result.vantage}")
    problems.raise_if_any()


@pytest.mark.requirement("R-HOST-2")
@pytest.mark.needs("host_commands")
def test_fail2ban_guards_sshd_as_the_policy_says(
    host: HostAccess, hardening: HostPolicy, evidence: Evidence
) -> None:
    policy = hardening.fail2ban
    jail = fail2ban_jail(host, policy.jail)
    evidence.add("jail", {"name": jail.name, "running": jail.running, "maxretry": jail.maxretry,
                          "findtime_s": jail.findtime_s, "bantime_s": jail.bantime_s,
                          "detail": jail.detail})  # fmt: skip
    problems = Problems(f"fail2ban's {policy.jail} jail on {host.name}")
    if not jail.running:
        problems.add("jail", f"not running ({jail.detail})")
        problems.raise_if_any()
    problems.expect(
        jail.maxretry is not None and 0 < jail.maxretry <= policy.maxretry,
        "maxretry", f"{jail.maxretry}, at most {policy.maxretry} wanted",
    )  # fmt: skip
    problems.expect(
        jail.findtime_s is not None and jail.findtime_s >= policy.findtime_s,
        "findtime", f"{jail.findtime_s} s, at least {policy.findtime_s} s wanted",
    )  # fmt: skip
    problems.expect(
        jail.bantime_s is not None and (jail.bantime_s < 0 or jail.bantime_s >= policy.bantime_s),
        "bantime", f"{jail.bantime_s} s, at least {policy.bantime_s} s (or permanent) wanted",
    )  # fmt: skip
    problems.raise_if_any()


@pytest.mark.requirement("R-HOST-3")
def test_internal_ports_listen_on_loopback_only(
    host: HostAccess, hardening: HostPolicy, evidence: Evidence
) -> None:
    """Every listener but the public ones is on loopback or a private container network."""
    allowed = set(hardening.open_ports)
    interfaces = own_addresses(host)
    sockets = listeners(host)
    evidence.add("listening", [s.describe() for s in sockets])
    problems = Problems(f"internal ports of {host.name}")
    internal = [s for s in sockets if s.port not in allowed]
    if not internal:
        pytest.skip("the host listens on no port but the public ones: nothing to check")
    for listener in internal:
        private = listener.loopback or private_container_address(listener.address, interfaces)
        problems.expect(
            private, f"port {listener.port}",
            f"{listener.describe()} is bound beyond loopback (bind it to 127.0.0.1)",
        )  # fmt: skip
    problems.raise_if_any()


@pytest.mark.requirement("R-HOST-4")
@pytest.mark.needs("hosted_services")
def test_services_and_containers_run_as_a_non_root_user(
    host: HostAccess, profile: Profile, evidence: Evidence
) -> None:
    """As configured (User=, the container's user) and as running (the kernel's view). A front
    that binds 80/443 (kind nginx) may keep its master process as root; its workers may not."""
    services = _hosted(host)
    problems = Problems(f"users of the services on {host.name}")
    seen: dict[str, object] = {}
    for name, service in sorted(services.items()):
        configured = service.configured_user()
        processes = service.processes()
        seen[name] = {"configured": configured, "running": [(p.pid, p.user) for p in processes]}
        front = profile.services[name].kind == "nginx"
        if not front and (configured is None or configured in ROOT_USERS):
            problems.add(f"{name}: configured", f"{service.runtime} {service.target} runs as "
                         f"{configured or 'root (no user configured)'}")  # fmt: skip
        if not processes:
            problems.add(f"{name}: running", f"no process of {service.target} is running")
        judged = processes[1:] if front else processes
        if front and not judged:
            problems.add(f"{name}: running", "no worker process beside the master")
        for process in judged:
            if process.user in ROOT_USERS:
                problems.add(f"{name}: pid {process.pid}", f"runs as root: {process.command[:80]}")
    evidence.add("users", seen)
    problems.raise_if_any()


@pytest.mark.requirement("R-HOST-5")
@pytest.mark.needs("hosted_services")
def test_containers_rotate_logs_restart_and_declare_health_checks(
    host: HostAccess, hardening: HostPolicy, evidence: Evidence
) -> None:
    containers = {n: s for n, s in _hosted(host).items() if s.runtime == "container"}
    if not containers:
        pytest.skip("no service of the profile runs as a container on the host")
    policy = ContainerPolicy(
        log_max_size=hardening.log_max_size,
        log_max_files=hardening.log_max_files,
        restart_policies=(hardening.restart_policy,),
    )
    problems = Problems(f"containers on {host.name}")
    for name, service in sorted(containers.items()):
        inspect = service.inspect()
        if inspect is None:
            problems.add(name, f"container {service.target} does not exist")
            continue
        host_config, config = inspect.get("HostConfig", {}), inspect.get("Config", {})
        evidence.add(name, {  # what was judged, never the environment (it holds secrets)
            "LogConfig": host_config.get("LogConfig"),
            "RestartPolicy": host_config.get("RestartPolicy"),
            "Healthcheck": config.get("Healthcheck"),
        })  # fmt: skip
        for key, problem in container_problems(inspect, policy).items():
            problems.add(key, problem)
    problems.raise_if_any()


@pytest.mark.requirement("R-HOST-6")
@pytest.mark.needs("hosted_services")
def test_postgresql_is_recent_enough(
    stack: Stack, host: HostAccess, hardening: HostPolicy, evidence: Evidence, tmp_path: Path
) -> None:
    """The version is asked of the server itself, as the host reaches it, with the DSN a
    service is configured with."""
    environments = {n: s.environment() for n, s in _hosted(host).items()}
    targets = {}
    for link in database_links(environments):
        if link.kind == "postgres":
            targets.setdefault((link.host, link.port), link)
    if not targets:
        pytest.skip("no service's environment names a PostgreSQL DSN (remote.services.*.env_file)")
    problems = Problems(f"PostgreSQL versions (at least {hardening.postgres_min_version})")
    versions = {}
    for (server, port), link in sorted(targets.items()):
        ca = None
        if link.ca_file:
            ca = tmp_path / f"ca-{server}-{port}.pem"
            ca.write_bytes(stack.files().read_bytes(PurePosixPath(link.ca_file)))
        with host.forward(server or "127.0.0.1", port) as endpoint:
            number = server_version_num(link, endpoint, ca)
        versions[f"{server}:{port}"] = number
        major = number // 10000
        problems.expect(
            major >= hardening.postgres_min_version, f"{server}:{port}",
            f"PostgreSQL {major} ({number}), {hardening.postgres_min_version} or later wanted",
        )  # fmt: skip
    evidence.add("server_version_num", versions)
    problems.raise_if_any()
