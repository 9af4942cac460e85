"""The reference compose file: it validates, and its containers run as they must.

Published ports on 127.0.0.1 only, every container non-root (as configured and as its
processes run), its health check passing, restart `unless-stopped`, logs rotated 10 MB x 3.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path

import pytest
from containers_helpers import (
    Engine,
    RunningStack,
    compose_config,
    compose_or_skip,
    write_reference_inputs,
)

from stackproof.checks.problems import Problems
from stackproof.containers import images

pytestmark = pytest.mark.containers

EXPECTED_SERVICES = {"postgres", "redis", "anilist", "sentry", "auth", "bot", "nginx"}
ONE_SHOTS = {"migrate"}  # runs the migrations once, exits 0: no restart, no health check


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """What Compose makes of the file (no engine needed: nothing runs)."""
    compose = compose_or_skip()
    inputs, _ = write_reference_inputs(tmp_path_factory.mktemp("config"), None, 18443, 18080)
    return json.loads(compose_config(compose, inputs.env_file, "--format", "json"))


def test_compose_file_validates(config: dict[str, object]) -> None:
    services = config["services"]
    assert isinstance(services, dict)
    assert set(services) == EXPECTED_SERVICES | ONE_SHOTS


def test_compose_services_are_hardened(config: dict[str, object]) -> None:
    problems = Problems("compose services")
    services = config["services"]
    assert isinstance(services, dict)
    for name, service in sorted(services.items()):
        if name in ONE_SHOTS:
            if service.get("restart") != "no":
                problems.add(f"{name}.restart", "a one-shot must not be restarted")
            continue
        if service.get("restart") != "unless-stopped":
            problems.add(f"{name}.restart", f"is {service.get('restart')!r}")
        logging = service.get("logging", {})
        wanted = {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}
        if logging != wanted:
            problems.add(f"{name}.logging", f"is {logging!r}, not {wanted!r}")
        if service.get("pull_policy") != "never":
            problems.add(f"{name}.pull_policy", "images are built here, never pulled")
        for port in service.get("ports", []):
            if port.get("host_ip") != "127.0.0.1":
                problems.add(f"{name}.ports", f"{port!r} is published beyond 127.0.0.1")
        if set(service.get("networks", {})) != {"default"}:
            problems.add(f"{name}.networks", f"{service.get('networks')!r}: not the project's")
    problems.raise_if_any()


def test_each_image_declares_a_non_root_user_and_a_health_check(
    engine: Engine, reference_images: images.BuiltImages
) -> None:
    problems = Problems("images")
    for built in reference_images:
        config = engine.client.images.get(built.id).attrs["Config"]
        if config.get("User") in (None, "", "root", "0", "0:0"):
            problems.add(f"{built.name}.User", f"is {config.get('User')!r}")
        if not (config.get("Healthcheck") or {}).get("Test"):
            problems.add(f"{built.name}.Healthcheck", "none declared")
    problems.raise_if_any()


def test_containers_run_non_root_and_healthy(running_stack: RunningStack) -> None:
    containers = [
        c for c in running_stack.containers()
        if c.labels["com.docker.compose.service"] not in ONE_SHOTS
    ]  # fmt: skip
    names = {c.labels["com.docker.compose.service"] for c in containers}
    assert names == EXPECTED_SERVICES
    problems = Problems("containers")
    for container in containers:
        container.reload()
        name = container.labels["com.docker.compose.service"]
        health = container.attrs["State"].get("Health", {}).get("Status")
        if health != "healthy":
            problems.add(f"{name}.health", f"is {health!r}")
        top = container.top(ps_args="-eo pid,uid,args")  # the engine needs the PID column
        column = top["Titles"].index("UID")
        uids = {row[column] for row in top["Processes"]}
        if not uids or "0" in uids:
            problems.add(f"{name}.processes", f"run as uids {sorted(uids)}")
    problems.raise_if_any()


def test_published_ports_are_loopback_only(running_stack: RunningStack) -> None:
    problems = Problems("published ports")
    published = 0
    for container in running_stack.containers():
        name = container.labels["com.docker.compose.service"]
        for port, bindings in (container.attrs["NetworkSettings"]["Ports"] or {}).items():
            for binding in bindings or []:
                published += 1
                if binding["HostIp"] != "127.0.0.1":
                    problems.add(f"{name}.{port}", f"published on {binding['HostIp']}")
    assert published >= len(EXPECTED_SERVICES)  # every service is reachable from the host
    problems.raise_if_any()


def test_front_answers_over_tls_through_its_published_port(running_stack: RunningStack) -> None:
    context = ssl.create_default_context(cafile=str(running_stack.ca_path))
    url = f"https://localhost:{running_stack.https_port}/bot/readyz"
    with urllib.request.urlopen(url, context=context, timeout=10) as answer:
        body = json.loads(answer.read())
    assert answer.status == 200
    assert body["checks"] == {"postgres": "ok", "migrations": "ok", "redis": "ok"}


def test_secrets_stay_out_of_the_container_config(running_stack: RunningStack) -> None:
    secrets = {
        path.name: path.read_text("utf-8")
        for path in Path(running_stack.inputs.secrets_dir).iterdir()
        if path.name not in ("tls_cert",)
    }
    problems = Problems("container configs")
    for container in running_stack.containers():
        name = container.labels["com.docker.compose.service"]
        config = json.dumps(container.attrs["Config"])
        for secret, value in secrets.items():
            if value and value in config:
                problems.add(f"{name}.{secret}", "shows in `docker inspect`")
    problems.raise_if_any()
