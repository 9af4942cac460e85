"""When a compose service is ready: its container runs (healthy, where it declares a health
check) and the right process answers on its published port, as the process backend proves
it: the front a TLS handshake with a certificate of the run's CA and an HTTP answer, a
database a query with the run's password, Redis a PING after AUTH, an app its health path.
Through 127.0.0.1 only: a port Docker publishes is a docker-proxy that accepts any
connection, so an accept alone proves nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import docker.errors

from stackproof.backends.process.nginx import READINESS_PATH
from stackproof.backends.process.postgres import AcceptsQueries
from stackproof.backends.process.redis import AnswersPing
from stackproof.errors import CapabilityMissingError
from stackproof.profile import Profile
from stackproof.readiness import Check, Condition, HttpAnswer, HttpsAnswer, HttpStatus, TcpPort

if TYPE_CHECKING:
    from stackproof.backends.compose.control import ComposeServiceControl
    from stackproof.backends.compose.stack import ComposeStack


@dataclass(frozen=True)
class ContainerReady:
    """The service's container runs, and is healthy if it has a health check.

    With `answers_proven` (the harness's own proof of the service is an answer, not a bare
    accept), a health check still `starting` is no reason to wait: the engine runs its first
    check only one interval after the start, and the answer already shows what it would.
    A check that has failed (`unhealthy`) always holds the service back.
    """

    service: ComposeServiceControl
    answers_proven: bool = False

    @property
    def description(self) -> str:
        return f"the container of {self.service.compose_name} runs (and is healthy)"

    def check(self) -> Check:
        try:
            container = self.service.container()
        except (LookupError, docker.errors.APIError) as error:
            return Check(False, str(error))
        state = container.attrs["State"]
        health = (state.get("Health") or {}).get("Status")
        if not state.get("Running") or state.get("Paused") or state.get("Restarting"):
            return Check(False, f"{state.get('Status')} (exit code {state.get('ExitCode')})")
        if health == "starting" and self.answers_proven:
            return Check(True, "running, health check not yet run (its answer is proven)")
        if health not in (None, "healthy"):
            return Check(False, f"health {health}")
        return Check(True, f"running, health {health or 'not declared'}")


def answers_proven(conditions: list[Condition]) -> bool:
    """Whether each condition is an answer of the service: a published port's accept alone
    is docker-proxy's, not the service's."""
    return bool(conditions) and not any(isinstance(c, TcpPort) for c in conditions)


def proof_of(stack: ComposeStack, name: str) -> list[Condition]:
    """What proves the service itself answers on its published ports."""
    spec = stack.profile.services[name]
    control = stack.service(name)
    public = stack.profile.public
    conditions: list[Condition] = []
    if spec.kind == "nginx":
        front = stack.public
        for port in spec.ports:
            endpoint = control.endpoint(port)
            if name == public.service and port == public.https_port and front.ca_bundle:
                conditions.append(
                    HttpsAnswer(endpoint.host, endpoint.port, front.host, front.ca_bundle,
                                READINESS_PATH)
                )  # fmt: skip
            elif name == public.service and port == public.http_port:
                conditions.append(
                    HttpAnswer(endpoint.host, endpoint.port, READINESS_PATH, front.host)
                )
            else:
                conditions.append(TcpPort(endpoint.host, endpoint.port))
        return conditions
    return [_own_answer(stack, name)]


def _own_answer(stack: ComposeStack, name: str) -> Condition:
    spec = stack.profile.services[name]
    control = stack.service(name)
    endpoint = control.endpoint()
    accepts = TcpPort(endpoint.host, endpoint.port)  # where nothing better is known
    if spec.kind == "postgres":
        try:
            return AcceptsQueries(control.admin_url(), endpoint)
        except CapabilityMissingError:
            return accepts
    if spec.kind == "redis":
        password = stack.redis_password(name)
        return accepts if password is None else AnswersPing(endpoint, password)
    if spec.kind == "generic":
        return _generic_answer(stack, name, accepts)
    path = spec.health.readiness or spec.health.liveness
    return accepts if path is None else HttpStatus(endpoint.url(path=path), verify=False)


def _generic_answer(stack: ComposeStack, name: str, accepts: TcpPort) -> Condition:
    """A generic service's `generic.ready` on compose: an HTTP path on its published port;
    a TCP accept only beside the container's own health check (`ComposeBackend.check` and
    `generic_problems` refuse the rest before anything waits on it)."""
    ready = stack.profile.services[name].generic_settings.ready
    if ready is None or ready.http is None:
        return accepts
    endpoint = stack.service(name).endpoint(ready.port)
    return HttpStatus(
        endpoint.url(path=ready.http), statuses=frozenset({ready.status}), verify=False
    )


def generic_problems(profile: Profile, has_healthcheck: Callable[[str], bool]) -> list[str]:
    """Why the generic services' readiness cannot be proven on compose: a readiness command
    would run on this machine, not in the container, and a published port accepts before
    the server behind it does (docker-proxy), so an accept proves nothing without the
    container's own health check."""
    found: list[str] = []
    for name, spec in profile.services.items():
        if spec.kind != "generic":
            continue
        ready = spec.generic_settings.ready
        if ready is not None and ready.command is not None:
            found.append(
                f"services.{name}.generic.ready.command: a readiness command runs on the "
                "process backend only (to run it on compose: a healthcheck in the compose "
                f"file for {name}, which stackproof waits for, and ready = {{ tcp = ... }}, "
                "or ready = { http = ... })"
            )
        elif (ready is None or ready.http is None) and not has_healthcheck(name):
            found.append(
                f"services.{name}.generic.ready: on compose a published port accepts "
                "connections before the server behind it does (docker-proxy), so a TCP "
                f"accept proves nothing (to enable: a healthcheck for {name} in the compose "
                "file, or ready = { http = ... })"
            )
    return found
