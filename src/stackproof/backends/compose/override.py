"""The one file stackproof adds to a compose project: never an edit of the user's files.

It labels every service, network and volume with the run (and the stack), publishes every
port the files publish on a port of the stack's own loopback address where the file
pins a port on loopback, else on a port of the run's allocator (on the address the file
names: a file that publishes on 0.0.0.0 still does, and the host suite says so), adds the fault
proxy, reroutes the links (`network.py`), sets the environment the profile renders, and
mounts the run's certificate where the profile asks. Fixed container names are reset, so
two stacks of one file can run side by side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackproof.backends.compose.network import (
    API_PORT,
    PROXY_SERVICE,
    ProxyPlan,
    upstream_alias,
    upstream_network,
)
from stackproof.backends.compose.project import services_of
from stackproof.backends.compose.yamldoc import override, reset
from stackproof.containers import labels

STACK_LABEL = "org.stackproof.stack"
RUN_CA_MOUNT = "/run/stackproof/tls"
PROXY_CONFIG_MOUNT = "/run/stackproof/toxiproxy.json"
LOOPBACK = "127.0.0.1"
HARDENED = {
    "restart": "unless-stopped",
    "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
}


@dataclass
class OverridePlan:
    run_id: str
    harness_id: str
    label: str
    # (compose service, container port) -> (host address, host port)
    bindings: Mapping[tuple[str, int], tuple[str, int]]
    proxy: ProxyPlan | None = None
    proxy_image: str | None = None
    proxy_api_port: int | None = None
    # The proxies as a `-config` file the built-in server reads at start (None: a named
    # image, which gets them through its API)
    proxy_config: Path | None = None
    environment: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    run_ca: Mapping[str, Path] = field(default_factory=dict)  # service -> folder to mount
    build_contexts: Mapping[str, Path] = field(default_factory=dict)  # service -> its context

    @property
    def labels(self) -> dict[str, str]:
        return {**labels.run_labels(self.run_id, self.harness_id), STACK_LABEL: self.label}


def _ports(plan: OverridePlan, name: str) -> list[dict[str, Any]]:
    return [
        {"target": target, "published": str(port), "host_ip": address, "protocol": "tcp"}
        for (service, target), (address, port) in plan.bindings.items()
        if service == name
    ]


def build_override(config: Mapping[str, Any], plan: OverridePlan) -> dict[str, Any]:
    """The override document for the merged `config` of the user's files."""
    services: dict[str, Any] = {}
    for name, service in services_of(dict(config)).items():
        entry: dict[str, Any] = {
            "labels": plan.labels,
            "ports": override(_ports(plan, name)),
        }
        if service.get("container_name"):
            entry["container_name"] = reset()
        if env := plan.environment.get(name):
            entry["environment"] = dict(env)
        if context := plan.build_contexts.get(name):
            entry["build"] = {"context": str(context)}
        if folder := plan.run_ca.get(name):
            entry["volumes"] = [
                {"type": "bind", "source": str(folder), "target": RUN_CA_MOUNT, "read_only": True}
            ]
        services[name] = entry
    networks: dict[str, Any] = {
        name: {"labels": plan.labels}
        for name, network in (config.get("networks") or {}).items()
        if not network.get("external")
    }
    networks.setdefault("default", {"labels": plan.labels})
    volumes = {
        name: {"labels": plan.labels}
        for name, volume in (config.get("volumes") or {}).items()
        if not volume.get("external")
    }
    if plan.proxy is not None:
        services[PROXY_SERVICE] = _proxy_service(plan)
        if plan.proxy.routing == "alias":
            _take_over_aliases(plan, plan.proxy, services, networks)
    document: dict[str, Any] = {"services": services, "networks": networks}
    if volumes:
        document["volumes"] = volumes
    return document


def _proxy_service(plan: OverridePlan) -> dict[str, Any]:
    assert plan.proxy_image is not None
    assert plan.proxy_api_port is not None
    service: dict[str, Any] = {
        "image": plan.proxy_image,
        "pull_policy": "never",  # nothing is pulled here: the image is built or named
        "labels": plan.labels,
        "ports": [
            {
                "target": API_PORT,
                "published": str(plan.proxy_api_port),
                "host_ip": LOOPBACK,
                "protocol": "tcp",
            }
        ],
        "networks": {"default": {}},
        **HARDENED,
    }
    if plan.proxy_config is not None:
        # The image's entrypoint is the server; these are only its arguments.
        service["command"] = ["--config", PROXY_CONFIG_MOUNT]
        service["volumes"] = [
            {"type": "bind", "source": str(plan.proxy_config), "target": PROXY_CONFIG_MOUNT,
             "read_only": True}
        ]  # fmt: skip
    return service


def _take_over_aliases(
    plan: OverridePlan, proxy: ProxyPlan, services: dict[str, Any], networks: dict[str, Any]
) -> None:
    """design.md's recipe: each target leaves the project network for one of its own, where
    it answers as `spf-upstream-<target>`; the proxy, on both, answers to the target's name
    on the project network (and, on a target's own network, to the names of what that
    target links to, so a target that is also a source still goes through the proxy)."""
    proxy_networks: dict[str, Any] = {"default": {"aliases": proxy.targets}}
    for target in proxy.targets:
        network = upstream_network(target)
        networks[network] = {"labels": plan.labels}
        services[target]["networks"] = override({network: {"aliases": [upstream_alias(target)]}})
        proxy_networks[network] = {"aliases": proxy.targets_of(target)}
    services[PROXY_SERVICE]["networks"] = proxy_networks
