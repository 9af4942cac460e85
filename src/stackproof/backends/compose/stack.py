"""A stack as one compose project: its containers, reached only through ports on 127.0.0.1.

Bringing up: the images (stackproof's reference images, where the profile asks), the
user's files read as Compose reads them, host ports from the run's allocator, the inputs
(the reference stack's secrets and config), the override (`override.py`), the fault proxy
first with every proxy made, then the rest with `up --wait` (health checks, `depends_on`),
then the same proof the process backend asks for: the right process answers on each
published port (the front: a TLS handshake with the run's CA and an HTTP answer).

Everything is labelled with the run (and the stack); `tear_down` takes the project down
with its volumes, saves every container's log in the run's report folder and removes
whatever still carries the stack's label. What a killed harness leaves, its watcher
(`watch.py`) and `stackproof clean` (`leftovers.py`) remove.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
from docker.models.containers import Container

from stackproof.backends.base import Stack
from stackproof.backends.compose.addresses import AddressLease, lease_address
from stackproof.backends.compose.control import (
    LOG_TAIL_LINES,
    READY_TIMEOUT_S,
    ComposeServiceControl,
)
from stackproof.backends.compose.events import EngineEventLog, bring_up_events
from stackproof.backends.compose.host import ComposeHost, secret_files
from stackproof.backends.compose.network import (
    PROXY_SERVICE,
    UPSTREAM_PREFIX,
    ContainerFaultNetwork,
    Link,
    ProxyPlan,
    plan_proxies,
)
from stackproof.backends.compose.override import STACK_LABEL, OverridePlan, build_override
from stackproof.backends.compose.partitions import NetworkPartitions
from stackproof.backends.compose.project import (
    ComposeCommandError,
    ComposeProject,
    project_name,
    published_ports,
    services_of,
)
from stackproof.backends.compose.readiness import (
    ContainerReady,
    answers_proven,
    generic_problems,
    proof_of,
)
from stackproof.backends.compose.refinputs import (
    SECRETS_PREFIX,
    ReferenceStackInputs,
    write_reference_inputs,
)
from stackproof.backends.compose.watch import ensure_watcher
from stackproof.backends.compose.yamldoc import dumps
from stackproof.backends.hosts import HostAccess
from stackproof.backends.values import (
    Actor,
    Capability,
    Endpoint,
    LifecycleEvent,
    LifecycleKind,
    PublicFront,
    StackFailure,
)
from stackproof.containers.engine import remove_objects, run_objects
from stackproof.containers.images import DEFAULT_PYTHON_VERSION, ImageBuildError
from stackproof.containers.reference import database_url, redis_url
from stackproof.containers.wheels import WheelError, WheelSet, ensure_wheels
from stackproof.errors import CapabilityMissingError, ProfileError, ServiceStartError
from stackproof.fakes.discord import DiscordSigner
from stackproof.leftovers.harness import Harness
from stackproof.ports import PortAllocator, PortInUseError, port_holders, says_address_in_use
from stackproof.profile import Profile
from stackproof.profile.compose import ComposeSettings
from stackproof.profile.template import TemplateError, render
from stackproof.readiness import AllOf, HttpStatus, wait_for
from stackproof.run import RunContext
from stackproof.signals import deferred_interrupts
from stackproof.tls_ca import RunCA

LOOPBACK = "127.0.0.1"
STOP_TIMEOUT_S = 10
# Docker publishes a port on 127.0.0.1 through its userland proxy (docker-proxy), which
# connects to the container from its own address: every client looks like one to the front.
USERLAND_PROXY = (
    "Docker's userland proxy (docker-proxy) forwards the published port, connecting from the "
    "network's gateway, so every client of the harness arrives from one address"
)
SERVICE_LABEL = "com.docker.compose.service"
PROJECT_LABEL = "com.docker.compose.project"
ONE_OFF_LABEL = "com.docker.compose.oneoff"


_BUILT: set[tuple[str, Path]] = set()  # (run, compose file) whose `build:` images are made


class ComposeStack(Stack):
    capabilities = frozenset({Capability.CONTROL, Capability.LOGS, Capability.EXEC})

    def __init__(
        self,
        profile: Profile,
        run: RunContext,
        label: str,
        *,
        settings: ComposeSettings,
        compose: Sequence[str],
        client: docker.DockerClient,
        images: Mapping[str, str],
        proxy_image: str | None,
        avoid: Sequence[int] = (),
    ) -> None:
        super().__init__(profile, run, label)
        self.settings = settings
        self.client = client
        self.images = dict(images)
        self.proxy_image = proxy_image
        self.ports = PortAllocator(f"{run.run_id}/{label}", avoid=avoid)
        self.project = ComposeProject(
            tuple(compose),
            project_name(run.run_id, label, Harness.current().id),
            (settings.file, *settings.overrides),
            settings.env_file,
            settings.file.parent,
        )
        self.discord = DiscordSigner()
        self.network: ContainerFaultNetwork | None = None
        self.partitions: NetworkPartitions = NetworkPartitions(self)
        self.ready_after_s: float | None = None
        self.notes: list[str] = []
        self._cleanup = ExitStack()
        # (compose service, container port) -> (host address, host port) it is published on
        self._bindings: dict[tuple[str, int], tuple[str, int]] = {}
        self._allocated: dict[tuple[str, int], int] = {}
        self.address: AddressLease | None = None
        self._front: PublicFront | None = None
        self._inputs: ReferenceStackInputs | None = None
        self._config: dict[str, Any] = {}
        self._temp: Path | None = None
        self._ca: RunCA | None = None
        self._events: list[LifecycleEvent] = []  # the harness's (the engine's: _engine_events)
        self._engine_events: EngineEventLog | None = None
        self._checked_services: frozenset[str] = frozenset()
        self._stopped: set[str] = set()  # compose services the harness stopped or killed
        self._lock = threading.RLock()
        self._failure: StackFailure | None = None
        self._closing = False
        self._secret_values: dict[str, str] = {}
        self.phase_seconds: dict[str, float] = {}  # from the start of bring-up (figures)

    # --- what the suites see ---

    @property
    def public(self) -> PublicFront:
        if self._front is None:
            raise RuntimeError("the stack is not up")
        return self._front

    def service(self, name: str) -> ComposeServiceControl:
        if name not in self.profile.services:
            known = ", ".join(self.profile.services)
            raise KeyError(f"no service {name!r} in this stack (it has {known})")
        return ComposeServiceControl(self, name)

    def signer(self) -> DiscordSigner:
        return self.discord

    def secret(self, name: str) -> str:
        if name not in self._secret_values:
            known = ", ".join(self._secret_values) or "none"
            raise KeyError(f"no secret {name!r} in the profile's secrets ({known})")
        return self._secret_values[name]

    def lifecycle(self) -> list[LifecycleEvent]:
        with self._lock:
            return [*self._bring_up_events(), *self._events]

    def logs(self, service: str) -> str:
        return self.service(service).logs()

    def failure(self) -> StackFailure | None:
        """A container that exited unasked and that Docker does not bring back (its restart
        policy gave up or is "no"). A restart by the policy is the stack's own recovery,
        as a supervisor's is on the process backend."""
        with self._lock:
            if self._failure is not None or self._closing or self.ready_after_s is None:
                return self._failure
            watched = {self.settings.compose_name(n) for n in self.profile.services}
            watched.add(PROXY_SERVICE)  # (one-shots, like migrations, end by design)
            for container in self._containers():
                name = container.labels.get(SERVICE_LABEL, "?")
                state = container.attrs["State"]
                if name not in watched or container.labels.get(ONE_OFF_LABEL) == "True":
                    continue
                if name in self._stopped or state.get("Running") or state.get("Restarting"):
                    continue
                code = state.get("ExitCode")
                self._failure = StackFailure(
                    service=self._profile_name(name),
                    exit_status=code,
                    detail=f"exited after the stack was up, unasked (exit code {code}; "
                    f"restart policy {container.attrs['HostConfig']['RestartPolicy']['Name']!r})",
                    log_tail=self._log_tail(container),
                    at=time.monotonic(),
                )
                self.run.record("stack_failure", stack=self.label, service=name, exit_status=code)
                break
            return self._failure

    def host(self) -> HostAccess:
        """The Docker engine's host as the stack's containers show it (`host.py`)."""
        return ComposeHost(self)

    # --- containers ---

    def all_containers(self) -> list[Container]:
        return self._containers()

    def container_addresses(self) -> list[str]:
        """Every name and address a container of the project answers to on its networks."""
        found: set[str] = set()
        for container in self._containers():
            for network in (container.attrs["NetworkSettings"].get("Networks") or {}).values():
                found.update(network.get("Aliases") or [])
                found.update(a for a in (network.get("IPAddress"),) if a)
            found.add(container.labels.get(SERVICE_LABEL, ""))
        found.discard("")
        return sorted(found)

    def reach(self, host: str, port: int) -> Endpoint:
        """Where the harness reaches `host:port` as a container reaches it."""
        if self.network is not None:
            for link in self.network.links.values():
                if (link.listen.host, link.listen.port) == (host, port):
                    host, port = link.upstream.host, link.upstream.port
                    break
        host = host.removeprefix(UPSTREAM_PREFIX)
        if (host, port) in self._bindings:
            return self._reachable(*self._bindings[(host, port)])
        raise CapabilityMissingError(
            f"{host}:{port} is not published on this host by the stack's containers",
            enable=f"compose.services.<{host}>.ports naming {port}",
        )

    def secret_environment(self, compose_name: str) -> dict[str, str]:
        """The secrets a reference image's `with-secrets` puts in the environment."""
        if self._inputs is None:
            return {}
        service = services_of(self._config).get(compose_name, {})
        files = secret_files(service, self._config.get("secrets") or {})
        return {
            target.upper(): path.read_text("utf-8").strip()
            for target, path in files.items()
            if path.is_file()
        }

    def _containers(self) -> list[Container]:
        found: list[Container] = self.client.containers.list(
            all=True, filters={"label": [f"{PROJECT_LABEL}={self.project.name}"]}
        )
        return found

    def container(self, compose_name: str) -> Container:
        found = self.client.containers.list(
            all=True,
            filters={
                "label": [
                    f"{PROJECT_LABEL}={self.project.name}",
                    f"{SERVICE_LABEL}={compose_name}",
                    f"{ONE_OFF_LABEL}=False",  # the service's own, not a `compose run` one
                ]
            },
        )
        if not found:
            raise LookupError(f"no container of service {compose_name} in {self.project.name}")
        container: Container = found[0]
        return container

    def _profile_name(self, compose_name: str) -> str:
        for name in self.profile.services:
            if self.settings.compose_name(name) == compose_name:
                return name
        return compose_name

    def _log_tail(self, container: Container) -> str:
        with contextlib.suppress(docker.errors.APIError):
            raw: bytes = container.logs(tail=LOG_TAIL_LINES)
            return raw.decode("utf-8", errors="replace")
        return ""

    def published(self, service: str, port: str) -> Endpoint:
        """Where the harness reaches the profile's port `port` of `service` (on loopback:
        a port published on every address is reached at 127.0.0.1)."""
        container_port = self.settings.settings(service).ports.get(port)
        if container_port is None:
            raise ProfileError(f"compose.services.{service}.ports: no container port for {port!r}")
        key = (self.settings.compose_name(service), container_port)
        if key in self._bindings:
            return self._reachable(*self._bindings[key])
        return Endpoint(LOOPBACK, self._allocated[key])  # before the file is read

    @staticmethod
    def _reachable(address: str, port: int) -> Endpoint:
        return Endpoint(address if address.startswith("127.") else LOOPBACK, port)

    def exec_prefix(self, service: str) -> tuple[str, ...]:
        if self._inputs is not None and self.profile.services[service].kind == "app":
            return SECRETS_PREFIX
        return ()

    def exec_env(self, service: str) -> dict[str, str]:
        spec = self.profile.services[service]
        if self._inputs is not None and spec.kind == "postgres":
            database = spec.database.name if spec.database else "postgres"
            return {
                "PGHOST": "127.0.0.1",
                "PGUSER": "postgres",
                "PGPASSWORD": self._inputs.superuser_password,
                "PGDATABASE": database,
            }
        return {}

    def redis_password(self, service: str) -> str | None:
        return self._inputs.redis_password if self._inputs is not None else None

    def url_of(self, service: str, which: str) -> str:
        endpoint = self.service(service).endpoint()
        spec = self.profile.services[service]
        if self._inputs is not None:
            database = spec.database.name if spec.database else "postgres"
            user = spec.database.user if spec.database else "postgres"
            if spec.kind == "postgres":
                if which == "admin_url":
                    return database_url(
                        "postgres", self._inputs.superuser_password, database, endpoint.address
                    )
                return database_url(user, self._inputs.app_password, database, endpoint.address)
            if spec.kind == "redis" and which == "connection_url":
                return redis_url(self._inputs.redis_password, endpoint.address)
        template = getattr(self.settings.settings(service), which)
        if template is None:
            raise CapabilityMissingError(
                f"the profile gives no {which.replace('_', ' ')} of {service} on compose",
                enable=f"compose.services.{service}.{which}",
            )
        context = {
            "endpoint": {"host": endpoint.host, "port": endpoint.port, "address": endpoint.address}
        }
        return render(template, {**self._placeholders(), **context})

    # --- bringing up ---

    def bring_up(self) -> None:
        started = self._started = time.monotonic()
        try:
            self._cleanup.callback(self.ports.release)
            harness = Harness.current()
            harness.record("stack", run_id=self.run.run_id, label=self.label)
            harness.record("compose_project", run_id=self.run.run_id, project=self.project.name)
            self.run.record("compose_project", stack=self.label, project=self.project.name)
            ensure_watcher(self.run)
            self._temp = Path(
                tempfile.mkdtemp(prefix=f"stackproof-{self.run.run_id}-{self.label}-")
            )
            self._temp.chmod(0o700)
            harness.record("temp_dir", path=str(self._temp))
            self._cleanup.callback(shutil.rmtree, self._temp, ignore_errors=True)
            self._cleanup.callback(self._take_down)
            (self._temp / "tls").mkdir()
            self._ca = RunCA(self._temp / "tls")
            self._plan_ports()  # the profile's ports first: the inputs name them
            plan = self._plan_links()
            env_file = self._write_inputs(plan)
            if env_file is not None:
                self.project = replace(self.project, env_file=env_file)
            self._config = self._read_config()
            self._check_generic_readiness()
            self._plan_published_ports()
            self._make_front()
            override = self._write_override(plan)
            self.project = replace(self.project, files=(*self.project.files, override))
            if self.settings.build and self._has_builds():
                self._build()
            self._phase("prepared", started)
            self._engine_events = EngineEventLog(self.client, self.project.name)
            self._cleanup.callback(self._engine_events.close)
            self._up(plan)
            self._phase("up", started)
            self._await_proof()
            self._phase("proved", started)
        except BaseException:
            self.tear_down()
            raise
        self.ready_after_s = time.monotonic() - started
        self.run.record("stack_ready", stack=self.label, seconds=round(self.ready_after_s, 3))

    def _phase(self, name: str, started: float) -> None:
        self.phase_seconds[name] = round(time.monotonic() - started, 3)

    def _read_config(self) -> dict[str, Any]:
        config = self.project.config()
        services = services_of(config)
        missing = [
            f"{name} (as {self.settings.compose_name(name)!r})"
            for name in self.profile.services
            if self.settings.compose_name(name) not in services
        ]
        if missing:
            raise ProfileError(
                f"compose.file: {self.settings.file} has no service for "
                f"{', '.join(missing)} of the profile (it has {', '.join(sorted(services))}); "
                "map them with compose.services.<name>.service"
            )
        if PROXY_SERVICE in services:
            raise ProfileError(f"compose.file: the service name {PROXY_SERVICE} is stackproof's")
        return config

    def _plan_ports(self) -> None:
        """Ports of the allocator for the profile's ports (where the file pins none), and
        for the fault proxy's API; and the stack's own loopback address."""
        self.address = lease_address(f"{self.run.run_id}/{self.label}")
        self._cleanup.callback(self.address.release)
        self.run.record("address", stack=self.label, address=self.address.address)
        wanted: list[tuple[str, int]] = []
        for name in self.profile.services:
            compose_name = self.settings.compose_name(name)
            for port in self.profile.services[name].ports:
                container_port = self.settings.settings(name).ports[port]  # check() made sure
                wanted.append((compose_name, container_port))
        unique = list(dict.fromkeys(wanted))
        numbers = self.ports.allocate(len(unique) + 1)
        self._allocated = dict(zip(unique, numbers[:-1], strict=True))
        self._api_port = numbers[-1]

    def _plan_published_ports(self) -> None:
        """Where each published port goes: a port the file pins on loopback stays as it is,
        on the stack's own address (`addresses.py`); any other (a random one, one beyond
        loopback) comes from the allocator, on the address the file names."""
        assert self.address is not None
        bindings: dict[tuple[str, int], tuple[str, int]] = {}
        unplaced: list[tuple[str, int, str]] = []
        for name, service in services_of(self._config).items():
            for entry in published_ports(service):
                key = (name, int(entry["target"]))
                host_ip = str(entry.get("host_ip") or "")
                published = str(entry.get("published") or "")
                if host_ip.startswith("127.") and published.isdigit():
                    bindings[key] = (self.address.address, int(published))
                elif key in self._allocated:
                    bindings[key] = (host_ip, self._allocated[key])
                else:
                    unplaced.append((name, key[1], host_ip))
        for key, port in self._allocated.items():  # the profile's, where the file has none
            bindings.setdefault(key, (LOOPBACK, port))
        for (name, target, host_ip), port in zip(
            unplaced, self.ports.allocate(len(unplaced)) if unplaced else [], strict=True
        ):
            bindings[(name, target)] = (host_ip, port)
        self._bindings = bindings
        self.run.record(
            "ports", stack=self.label,
            ports={f"{s}:{p}": f"{a or '*'}:{h}" for (s, p), (a, h) in bindings.items()},
        )  # fmt: skip

    def _plan_links(self) -> ProxyPlan | None:
        if not self.profile.faults.proxy_links:
            return None
        links = []
        for name, spec in self.profile.services.items():
            for target in spec.links:
                target_spec = self.profile.services[target]
                port = self.settings.settings(target).ports[target_spec.primary_port]
                links.append(
                    Link(self.settings.compose_name(name), self.settings.compose_name(target), port)
                )
        if not links:
            return None
        plan = plan_proxies(links, self.settings.routing)
        by_profile = {self.settings.compose_name(n): n for n in self.profile.services}
        self.network = ContainerFaultNetwork(plan, Endpoint(LOOPBACK, self._api_port), by_profile)
        self._cleanup.callback(self.network.close)
        for link in plan.links.values():
            self.run.record(
                "fault_proxy", stack=self.label, link=link.name, proxy=link.proxy,
                listen=link.listen.address, upstream=link.upstream.address,
            )  # fmt: skip
        return plan

    def _placeholders(self) -> dict[str, Any]:
        front = self._front
        return {
            "secret": self._secret_values,
            "discord": {"public_key": self.discord.public_key_hex},
            "public": {
                "host": self.profile.stack.public_host,
                "https_authority": front.https_authority if front else "",
            },
            "run": {"id": self.run.run_id},
        }

    def _make_front(self) -> None:
        public = self.profile.public
        https = self.published(public.service, public.https_port)
        http = self.published(public.service, public.http_port)
        assert self._ca is not None
        self._front = PublicFront(
            self.profile.stack.public_host, https, http, self._ca.ca_path, USERLAND_PROXY
        )

    def _write_inputs(self, plan: ProxyPlan | None) -> Path | None:
        """The reference stack's inputs, or the profile's secrets and the run's certificate."""
        assert self._temp is not None
        assert self._ca is not None

        def address(source: str, target: str, direct: str) -> str:
            if plan is None:
                return direct
            return plan.address(source, target) if plan.routing == "env" else direct

        if self.settings.inputs == "reference":
            self._inputs = write_reference_inputs(
                self._temp / "inputs",
                profile=self.profile,
                run=self.run,
                ca=self._ca,
                discord_public_key=self.discord.public_key_hex,
                images=self.images,
                address=address,
                browser_anilist_url=self.published("anilist", "http").url(),
            )
            self._secret_values = {
                name: self._inputs.secrets[name]
                for name in self.profile.secrets
                if name in self._inputs.secrets
            }
            self._secret_values |= {
                name: self.run.secrets.generate(f"secret.{name}")
                for name in self.profile.secrets
                if name not in self._secret_values
            }
            return self._inputs.env_file
        self._secret_values = {
            n: self.run.secrets.generate(f"secret.{n}") for n in self.profile.secrets
        }
        if any(self.settings.settings(n).run_ca for n in self.profile.services):
            settings = self.profile.stack
            self._ca.issue(
                "server",
                settings.certificate_names or [settings.public_host, LOOPBACK],
                settings.certificate_days,
            )
            for path in (self._ca.ca_path.parent).iterdir():
                path.chmod(0o644)  # the container's own user reads them (a bind mount)
            self._ca.ca_path.parent.chmod(0o755)
            self._temp.chmod(0o711)
        return None

    def _environment(self, plan: ProxyPlan | None) -> dict[str, dict[str, str]]:
        environment: dict[str, dict[str, str]] = {}
        if self._inputs is not None:
            environment.update(self._inputs.environment)
        for name in self.profile.services:
            templates = self.settings.settings(name).env
            if not templates:
                continue
            context = {**self._placeholders(), "link": self._link_facts(name, plan)}
            rendered = {}
            for key, template in templates.items():
                try:
                    rendered[key] = render(template, context)
                except TemplateError as error:
                    raise ProfileError(f"compose.services.{name}.env.{key}: {error}") from None
            environment.setdefault(self.settings.compose_name(name), {}).update(rendered)
        return environment

    def _link_facts(self, name: str, plan: ProxyPlan | None) -> dict[str, dict[str, str]]:
        facts = {}
        source = self.settings.compose_name(name)
        for target in self.profile.services[name].links:
            compose_target = self.settings.compose_name(target)
            port = self.settings.settings(target).ports[self.profile.services[target].primary_port]
            address = f"{compose_target}:{port}"
            if plan is not None and plan.routing == "env":
                address = plan.address(source, compose_target)
            host, _, number = address.rpartition(":")
            facts[target] = {"host": host, "port": number, "address": address}
        return facts

    def _write_override(self, plan: ProxyPlan | None) -> Path:
        assert self._temp is not None
        assert self._ca is not None
        build_contexts = {
            self.settings.compose_name(n): self._context_with_wheels(n)
            for n in self.profile.services
            if self.settings.settings(n).wheels is not None
        }
        run_ca = {
            self.settings.compose_name(n): self._ca.ca_path.parent
            for n in self.profile.services
            if self.settings.settings(n).run_ca
        }
        proxy_config = self._write_proxy_config()
        document = build_override(
            self._config,
            OverridePlan(
                run_id=self.run.run_id,
                harness_id=Harness.current().id,
                label=self.label,
                bindings=self._bindings,
                proxy=plan,
                proxy_image=self.proxy_image,
                proxy_api_port=self._api_port,
                proxy_config=proxy_config,
                environment=self._environment(plan),
                run_ca=run_ca,
                build_contexts=build_contexts,
            ),
        )
        path = self._temp / "stackproof.override.yml"
        path.write_text(dumps(document) + "\n", "utf-8")
        return path

    @property
    def proxy_reads_config(self) -> bool:
        """The built-in server takes its proxies from a file as it starts; a named image
        (whose command line is its own) through its API, before the sources start."""
        return self.settings.toxiproxy_image is None

    def _write_proxy_config(self) -> Path | None:
        if self.network is None or not self.proxy_reads_config:
            return None
        assert self._temp is not None
        path = self._temp / "toxiproxy.json"
        path.write_text(json.dumps(self.network.proxy_documents(), indent=2) + "\n", "utf-8")
        path.chmod(0o644)  # read by the proxy's own user in its container
        return path

    def _context_with_wheels(self, name: str) -> Path:
        """The service's build context as the file names it, with `wheels/` added: a copy
        (the user's folder is never written to). BuildKit's cache is by content, so a copy
        in another place builds from the same cache."""
        assert self._temp is not None
        build = services_of(self._config)[self.settings.compose_name(name)].get("build") or {}
        if not build.get("context"):
            raise ProfileError(f"compose.services.{name}.wheels: the service builds no image")
        context = self._temp / "contexts" / name
        shutil.copytree(Path(build["context"]), context, ignore=shutil.ignore_patterns("wheels"))
        shutil.copytree(self._wheels(name), context / "wheels")
        return context

    def _wheels(self, name: str) -> Path:
        """The service's wheels, built on the host (cached by their requirements)."""
        requirements = self.settings.settings(name).wheels
        assert requirements is not None
        if not requirements.is_file():
            raise ProfileError(f"compose.services.{name}.wheels: {requirements} does not exist")
        lines = [
            line.split("#", 1)[0].strip() for line in requirements.read_text("utf-8").splitlines()
        ]
        wanted = WheelSet(tuple(line for line in lines if line), DEFAULT_PYTHON_VERSION)
        log = self.run.logs_dir(self.label) / f"{name}.wheels.log"
        try:
            return ensure_wheels(wanted, log)
        except (WheelError, OSError) as error:
            raise ImageBuildError(
                f"the wheels of {name} ({requirements}) could not be fetched: {error}"
            ) from None

    def _build(self) -> None:
        """`compose build`, once per run (every stack of the run has the same images);
        an image that fails to build is named, with the end of the build's output."""
        key = (self.run.run_id, self.project.files[0])
        if key in _BUILT:
            return
        try:
            self.project.run("build", timeout_s=1800.0)
        except ComposeCommandError as error:
            raise ImageBuildError(
                f"compose build of {self.settings.file} failed; it said, at the end:\n"
                f"{error.output.strip()[-3000:]}"
            ) from None
        _BUILT.add(key)

    def _has_builds(self) -> bool:
        return any("build" in s for s in services_of(self._config).values())

    def _up(self, plan: ProxyPlan | None) -> None:
        timeout = self.settings.up_timeout_s
        try:
            if plan is not None and self.network is not None and not self.proxy_reads_config:
                # A named proxy image: it, and beside it whatever needs no proxied link
                # (databases, say), first; its API answering is its proof, polled here, not
                # at its health interval; the rest start once every proxy is there.
                first = [PROXY_SERVICE, *self._needing_no_proxy(plan)]
                self.project.run("up", "--detach", *first, timeout_s=timeout)
                self._await_proxy_api()
                self.network.create_proxies()
                self._phase("proxies", self._started)
            # Not `--wait`: it gives up at a container's first "unhealthy", which a health
            # check timing out on a busy host reports; the proof below waits to a deadline
            # (and Compose still holds each service back until its `depends_on` hold).
            self.project.run("up", "--detach", timeout_s=timeout + 60)
            if plan is not None and self.network is not None and self.proxy_reads_config:
                self._await_proxy_api()
                self.network.check_proxies()
        except ComposeCommandError as error:
            raise self._why_up_failed(error) from None

    def _needing_no_proxy(self, plan: ProxyPlan) -> list[str]:
        """Compose services that are no source of a proxied link, nor depend on one."""
        services = services_of(self._config)
        sources = {link.source for link in plan.links.values()}

        def needs(name: str, seen: frozenset[str] = frozenset()) -> bool:
            if name in sources:
                return True
            depends = services.get(name, {}).get("depends_on") or {}
            return any(needs(d, seen | {name}) for d in depends if d not in seen)

        return sorted(name for name in services if not needs(name))

    def _waves(self) -> list[list[str]]:
        return self.profile.start_order()

    def _await_proxy_api(self) -> None:
        assert self.network is not None
        wait_for(
            HttpStatus(f"{self.network.url}/version", timeout_s=1.0),
            timeout_s=READY_TIMEOUT_S,
            what="the fault proxy container",
            hint=f"see {PROXY_SERVICE}'s log in {self.run.logs_dir(self.label)}",
            log_tail=lambda: self._log_tail(self.container(PROXY_SERVICE)),
        )

    def _why_up_failed(self, error: ComposeCommandError) -> ServiceStartError:
        """Which service did not come up, and its log; a taken port named as such."""
        if says_address_in_use(error.output):
            taken = [p for _, p in self._bindings.values() if str(p) in error.output]
            return PortInUseError(self.label, taken or [], port_holders(taken))
        problems = []
        with contextlib.suppress(docker.errors.APIError):
            for container in self._containers():
                state = container.attrs["State"]
                health = (state.get("Health") or {}).get("Status")
                if state.get("Running") and health in (None, "healthy"):
                    continue
                name = container.labels.get(SERVICE_LABEL, "?")
                status = state.get("Status")
                problems.append(
                    f"{name}: {status}" + (f", {health}" if health else "")
                    + f" (exit code {state.get('ExitCode')}); its log ends:\n"
                    + self._log_tail(container)
                )  # fmt: skip
        failure = ServiceStartError(f"stack {self.label!r} did not come up on compose: {error}")
        for problem in problems:
            failure.add_note(problem)
        return failure

    def _check_generic_readiness(self) -> None:
        def has_healthcheck(name: str) -> bool:
            service = services_of(self._config).get(self.settings.compose_name(name), {})
            check = service.get("healthcheck") or {}
            test = check.get("test") or []
            return bool(test) and test[0] != "NONE" and not check.get("disable")

        if problems := generic_problems(self.profile, has_healthcheck):
            raise ProfileError("; ".join(problems))

    def proof(self, name: str) -> AllOf:
        """What proves the service answers on its published ports (no container state)."""
        return AllOf(tuple(proof_of(self, name)))

    def scratch(self, name: str) -> Path:
        assert self._temp is not None
        return self._temp / name

    def service_command(self, compose_name: str) -> list[str]:
        """The command the service's container runs (the file's, else the image's)."""
        command = services_of(self._config).get(compose_name, {}).get("command")
        if command:
            return [str(part) for part in command]
        attrs = self.container(compose_name).attrs
        return [str(part) for part in attrs["Config"].get("Cmd") or []]

    def _readiness(self, name: str) -> AllOf:
        proofs = proof_of(self, name)
        return AllOf((ContainerReady(self.service(name), answers_proven(proofs)), *proofs))

    def _await_proof(self) -> None:
        for wave in self._waves():
            for name in wave:
                self._await_ready(name, note=False)
        self._checked_services = self._health_checked_services()

    def _health_checked_services(self) -> frozenset[str]:
        """The compose services whose containers declare a health check."""
        checked = set()
        for container in self._containers():
            test = (container.attrs["Config"].get("Healthcheck") or {}).get("Test") or []
            if test and test[0] != "NONE":
                checked.add(container.labels.get(SERVICE_LABEL, ""))
        return frozenset(checked)

    def _bring_up_events(self) -> list[LifecycleEvent]:
        """The lifecycle of the bring-up from the engine's events (`events.py`)."""
        if self._engine_events is None:
            return []
        offset = time.monotonic() - time.time()
        mapping = {self.settings.compose_name(n): n for n in self.profile.services}
        return bring_up_events(
            self._engine_events.events(), mapping, self._checked_services.__contains__, offset
        )

    def _await_ready(self, name: str, by: Actor = "harness", *, note: bool = True) -> None:
        service = self.service(name)
        wait_for(
            self._readiness(name),
            timeout_s=READY_TIMEOUT_S,
            what=f"service {name!r} (container of {service.compose_name})",
            hint=f"see its log in {self.run.logs_dir(self.label)}",
            log_tail=service.log_tail,
            give_up=lambda: self._gone(service),
        )
        if note:
            self._note(name, "ready", by)

    def _gone(self, service: ComposeServiceControl) -> str | None:
        """Why waiting for the service is pointless: its container exited for good."""
        try:
            state = service.container().attrs["State"]
        except LookupError:
            return "its container does not exist"
        if state.get("Running") or state.get("Restarting") or state.get("Status") == "created":
            return None
        return f"its container exited with code {state.get('ExitCode')} and is not restarting"

    def _note(self, name: str, kind: LifecycleKind, by: Actor = "harness") -> None:
        with self._lock:
            self._events.append(LifecycleEvent(name, kind, time.monotonic(), by))

    # --- service control ---

    def start_service(self, name: str, *, wait: bool, by: Actor = "harness") -> None:
        service = self.service(name)
        with self._lock:
            if self._closing:
                raise ServiceStartError(f"{name}: the stack is shutting down")
            container = service.container()
            container.reload()
            state = container.attrs["State"]
            if state.get("Paused"):
                container.unpause()
            elif not state.get("Running") and not state.get("Restarting"):
                container.start()  # (a restarting one is Docker's policy's to bring back)
            self._stopped.discard(service.compose_name)
            self._note(name, "spawn", by)
        if wait:
            self._await_ready(name, by)

    def stop_service(self, name: str, by: Actor = "harness") -> None:
        service = self.service(name)
        with self._lock:
            self._stopped.add(service.compose_name)
        service.container().stop(timeout=STOP_TIMEOUT_S)
        self._note(name, "stop", by)

    def kill_service(self, name: str, by: Actor = "harness") -> None:
        service = self.service(name)
        container = service.container()
        container.reload()
        pid = int(container.attrs["State"].get("Pid") or 0)
        if pid > 1 and os.geteuid() == 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        else:  # not root: the engine kills it, and its restart policy counts that as a stop
            with self._lock:
                self._stopped.add(service.compose_name)
            container.kill(signal="SIGKILL")
        self._note(name, "kill", by)

    # --- tearing down ---

    def _save_logs(self) -> None:
        folder = self.run.logs_dir(self.label)
        with contextlib.suppress(docker.errors.APIError, OSError):
            for container in self._containers():
                name = container.labels.get(SERVICE_LABEL, container.name)
                raw: bytes = container.logs(stdout=True, stderr=True, timestamps=True)
                (folder / f"{name}.log").write_bytes(raw)

    def _take_down(self) -> None:
        try:
            self._save_logs()
            self.project.run(
                # No grace: everything goes (a Python PID 1 without a SIGTERM handler would
                # sit out the whole grace period).
                "down", "--volumes", "--remove-orphans", "--timeout", "0",
                timeout_s=120.0, check=False,
            )  # fmt: skip
            # Whatever Compose left (an object it no longer knew): by the stack's label.
            mine = [
                item
                for item in run_objects(self.client, self.run.run_id, Harness.current().id)
                if self._is_mine(item.kind, item.id)
            ]
            if problems := remove_objects(self.client, mine):
                self.run.record("left_objects", stack=self.label, problems=problems)
        except (docker.errors.DockerException, requests.RequestException, OSError) as error:
            # The engine stopped answering: what the run made stays labelled, for the
            # watcher (at this process's end) or `stackproof clean`, once it answers again.
            self.run.record("engine_gone_at_tear_down", stack=self.label, error=str(error))
            self.notes.append(
                f"the Docker engine did not answer at tear-down ({error}); the run's objects "
                "are removed by its watcher or `stackproof clean` once it answers again"
            )

    def _is_mine(self, kind: str, object_id: str) -> bool:
        getters: dict[str, Callable[[str], Any]] = {
            "container": self.client.containers.get,
            "network": self.client.networks.get,
            "volume": self.client.volumes.get,
        }
        if kind not in getters:
            return False
        with contextlib.suppress(docker.errors.NotFound):
            found = getters[kind](object_id)
            return bool(
                (
                    found.attrs.get("Labels") or found.attrs.get("Config", {}).get("Labels") or {}
                ).get(STACK_LABEL)
                == self.label
            )
        return False

    def tear_down(self) -> None:
        with deferred_interrupts():
            with self._lock:
                self._closing = True
            self._cleanup.close()
            self.run.record("stack_down", stack=self.label)
