"""The compose backend's parts that need no engine: the override's YAML and what it holds,
the fault proxy's plan for both routings, project names, one-off commands, the bring-up's
lifecycle from engine events, and what the profile's [compose] section accepts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import REFERENCE

from stackproof.backends.compose.events import bring_up_events
from stackproof.backends.compose.network import ContainerFaultNetwork, Link, plan_proxies
from stackproof.backends.compose.oneoff import changed_command
from stackproof.backends.compose.override import OverridePlan, build_override
from stackproof.backends.compose.project import project_name
from stackproof.backends.compose.yamldoc import dumps, override, reset
from stackproof.backends.values import Endpoint
from stackproof.drills.startorder import start_order_problems
from stackproof.errors import ProfileError
from stackproof.profile import load_profile

CONFIG = {
    "services": {
        "db": {"image": "pg", "ports": [{"target": 5432, "published": "", "host_ip": "127.0.0.1"}]},
        "app": {
            "image": "app",
            "container_name": "fixed",
            "ports": [{"target": 8000, "published": "8000", "host_ip": "127.0.0.1"}],
        },
        "web": {"image": "nginx", "ports": [{"target": 8443, "published": "8443"}]},
    },
    "networks": {"default": {"name": "x_default"}, "outside": {"external": True}},
    "volumes": {"data": {}},
}


def test_the_override_is_yaml_with_compose_merge_tags() -> None:
    text = dumps({"a": override([1, {"b": "c"}]), "d": reset(), "e": {}})
    assert text.startswith("{")
    assert '"a": !override [' in text
    assert '"d": !reset null' in text
    # Without the tags it is plain JSON: what is left parses.
    assert json.loads(text.replace("!override ", "").replace("!reset ", "")) == {
        "a": [1, {"b": "c"}], "d": None, "e": {},
    }  # fmt: skip


def _plan(**more: object) -> OverridePlan:
    bindings = {("db", 5432): ("127.0.0.1", 30001), ("app", 8000): ("127.77.0.9", 8000),
                ("web", 8443): ("", 30002)}  # fmt: skip
    return OverridePlan(run_id="r1", harness_id="h1", label="main", bindings=bindings, **more)  # type: ignore[arg-type]


def test_the_override_labels_everything_and_publishes_where_planned() -> None:
    document = build_override(CONFIG, _plan())
    labels = {"org.stackproof.run": "r1", "org.stackproof.harness": "h1",
              "org.stackproof.stack": "main"}  # fmt: skip
    for name in ("db", "app", "web"):
        assert document["services"][name]["labels"] == labels
    assert document["networks"] == {"default": {"labels": labels}}  # an external one: not ours
    assert document["volumes"] == {"data": {"labels": labels}}
    assert document["services"]["app"]["container_name"].tag == "!reset"
    web = document["services"]["web"]["ports"]
    assert web.tag == "!override"
    # Published beyond loopback in the file: still so (the host suite says so), port remapped.
    assert web.value == [{"target": 8443, "published": "30002", "host_ip": "", "protocol": "tcp"}]
    app = document["services"]["app"]["ports"].value
    assert app == [
        {"target": 8000, "published": "8000", "host_ip": "127.77.0.9", "protocol": "tcp"}
    ]


def test_env_routing_gives_each_link_a_proxy_of_its_own() -> None:
    plan = plan_proxies([Link("app", "db", 5432), Link("web", "app", 8000)], "env")
    assert plan.address("app", "db") == "spf-toxiproxy:20000"
    assert plan.address("web", "app") == "spf-toxiproxy:20001"
    assert {p.upstream.address for p in plan.links.values()} == {"db:5432", "app:8000"}


def test_alias_routing_takes_over_the_targets_names() -> None:
    plan = plan_proxies([Link("app", "db", 5432), Link("web", "app", 8000)], "alias")
    assert plan.address("app", "db") == "db:5432"  # the file's own address, unchanged
    assert plan.links["app-db"].upstream.address == "spf-upstream-db:5432"
    document = build_override(
        CONFIG, _plan(proxy=plan, proxy_image="stackproof/toxiproxy:x", proxy_api_port=30003)
    )
    db = document["services"]["db"]["networks"]
    assert db.tag == "!override"
    assert db.value == {"spf-up-db": {"aliases": ["spf-upstream-db"]}}
    proxy = document["services"]["spf-toxiproxy"]["networks"]
    assert proxy["default"] == {"aliases": ["app", "db"]}
    # app is a target and a source: on its own network the proxy answers for what app reaches
    assert proxy["spf-up-app"] == {"aliases": ["db"]}
    assert document["services"]["spf-toxiproxy"]["ports"][0]["host_ip"] == "127.0.0.1"


def test_the_built_in_proxy_reads_every_proxy_from_its_config_file(tmp_path: Path) -> None:
    """One proxy per target in alias routing, each as `POST /populate` takes it; the file is
    mounted read-only and named as the server's only extra argument."""
    plan = plan_proxies([Link("app", "db", 5432), Link("web", "db", 5432)], "alias")
    network = ContainerFaultNetwork(plan, Endpoint("127.0.0.1", 30003), {})
    assert network.proxy_documents() == [
        {"name": "db", "listen": "0.0.0.0:5432", "upstream": "spf-upstream-db:5432",
         "enabled": True}
    ]  # fmt: skip
    config = tmp_path / "toxiproxy.json"
    named = build_override(
        CONFIG, _plan(proxy=plan, proxy_image="toxiproxy:real", proxy_api_port=30003)
    )["services"]["spf-toxiproxy"]
    assert "command" not in named  # a named image keeps its own command line
    built = build_override(
        CONFIG,
        _plan(proxy=plan, proxy_image="stackproof/toxiproxy:x", proxy_api_port=30003,
              proxy_config=config),
    )["services"]["spf-toxiproxy"]  # fmt: skip
    assert built["command"] == ["--config", "/run/stackproof/toxiproxy.json"]
    assert built["volumes"] == [
        {"type": "bind", "source": str(config), "target": "/run/stackproof/toxiproxy.json",
         "read_only": True}
    ]  # fmt: skip


def test_alias_routing_refuses_two_targets_on_one_port() -> None:
    with pytest.raises(ProfileError, match=r"both listen on 8000.*routing = .env."):
        plan_proxies([Link("web", "auth", 8000), Link("web", "bot", 8000)], "alias")


def test_project_names_fit_compose_and_differ_by_harness() -> None:
    one = project_name("20261201T120000Z-ab12cd", "t01-Test With Spaces!" * 4, "1-2-aaaaaa")
    two = project_name("20261201T120000Z-ab12cd", "t01-Test With Spaces!" * 4, "1-2-bbbbbb")
    assert one != two
    assert len(one) <= 63
    assert one == one.lower()
    assert all(c.isalnum() or c in "-_" for c in one)


def test_a_one_off_changes_the_environment_after_the_entrypoint() -> None:
    """As the container's own `env` runs it: one setting removed, one set empty, one set."""
    script = (
        "import os; print(sorted(k for k in os.environ if k.startswith('X_')),"
        " repr(os.environ.get('X_SALT')), os.environ.get('X_NAME'))"
    )
    show = [sys.executable, "-c", script]
    argv = changed_command(show, {"X_API_KEY": None, "X_SALT": "", "X_NAME": "a b"})
    done = subprocess.run(
        argv, capture_output=True, text=True, check=True, timeout=30,
        env={**os.environ, "X_API_KEY": "secret", "X_SALT": "salt"},
    )  # fmt: skip
    assert done.stdout.strip() == "['X_NAME', 'X_SALT'] '' a b"


def test_the_bring_up_lifecycle_is_the_engines() -> None:
    def event(service: str, action: str, at: float) -> dict[str, object]:
        labels = {"com.docker.compose.service": service}
        return {"Action": action, "Actor": {"Attributes": labels}, "timeNano": int(at * 1e9)}

    events = [
        event("db", "start", 100.0), event("spf-toxiproxy", "start", 100.1),
        event("db", "health_status: healthy", 102.0), event("app", "start", 102.5),
        event("app", "health_status: healthy", 104.0), event("app", "start", 110.0),
    ]  # fmt: skip
    seen = bring_up_events(events, {"db": "db", "app": "api"}, lambda s: True, -100.0)
    assert [(e.service, e.kind, e.at) for e in seen] == [
        ("db", "spawn", 0.0), ("db", "ready", 2.0), ("api", "spawn", 2.5), ("api", "ready", 4.0),
    ]  # fmt: skip
    assert start_order_problems(seen, {"api": ["db"]}) == []
    early = bring_up_events(events[:2] + events[3:], {"db": "db", "app": "api"}, lambda s: True, 0)
    assert start_order_problems(early, {"api": ["db"]})  # app started before db was healthy


def test_the_reference_profile_maps_every_service(tmp_path: Path) -> None:
    profile = load_profile(REFERENCE)
    assert profile.compose is not None
    settings = profile.compose.resolved(REFERENCE.parent, profile.stack.root)
    assert settings.file.name == "docker-compose.yml"
    assert settings.file.is_file()
    for name, service in profile.services.items():
        assert set(service.ports) <= set(settings.settings(name).ports), name
