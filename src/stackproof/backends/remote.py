"""The remote backend: an already running stack (staging), reached by URLs only.

It can read nothing and control nothing, so only the non-destructive HTTP and TLS checks
run; the report says which checks were skipped for that reason.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from stackproof.backends.base import Backend, ServiceControl, Stack
from stackproof.backends.values import Endpoint, PublicFront
from stackproof.errors import (
    BackendUnavailableError,
    CapabilityMissingError,
    ProfileError,
    ServiceStartError,
)
from stackproof.profile import Profile
from stackproof.readiness import TcpPort, wait_for
from stackproof.run import RunContext

REACH_TIMEOUT_S = 5.0


def _endpoint(url: str) -> Endpoint:
    parts = urlsplit(url)
    if parts.hostname is None:
        raise ProfileError(f"{url!r} has no host")
    default = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.hostname, parts.port or default)


def _answering_address(endpoint: Endpoint) -> str:
    """The first resolved address of `endpoint` that accepts a connection (else its name)."""
    try:
        candidates = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return endpoint.host
    for family, kind, protocol, _, address in candidates:
        with socket.socket(family, kind, protocol) as probe:
            probe.settimeout(2.0)
            if probe.connect_ex(address) == 0:
                return str(address[0])
    return endpoint.host


class RemoteService(ServiceControl):
    def __init__(self, name: str, kind: str, url: str | None) -> None:
        super().__init__(name, kind)
        self._url = url

    def endpoint(self, port: str | None = None) -> Endpoint:
        return _endpoint(self.base_url())

    def base_url(self) -> str:
        if self._url is None:
            raise CapabilityMissingError(
                f"the profile gives no services.{self.name}.remote.url, so the remote backend "
                f"cannot reach {self.name} directly"
            )
        return self._url


class RemoteStack(Stack):
    def __init__(self, profile: Profile, run: RunContext, label: str) -> None:
        super().__init__(profile, run, label)
        remote = profile.public.remote
        assert remote is not None  # RemoteBackend.check demands it
        https = _endpoint(remote.https_url)
        self._front = PublicFront(
            host=https.host,
            https=https,
            http=_endpoint(remote.http_url) if remote.http_url else None,
            ca_bundle=profile.policy.tls.ca_bundle,
        )

    @property
    def public(self) -> PublicFront:
        return self._front

    def pin_addresses(self) -> None:
        """Connect to the address that answered, so every check (and sslyze) meets one host."""
        front = self._front
        https = Endpoint(_answering_address(front.https), front.https.port)
        http = front.http and Endpoint(_answering_address(front.http), front.http.port)
        self._front = PublicFront(front.host, https, http, front.ca_bundle)

    def service(self, name: str) -> RemoteService:
        spec = self.profile.services[name]
        return RemoteService(name, spec.kind, spec.remote.url if spec.remote else None)


class RemoteBackend(Backend):
    name = "remote"
    destructive_ok = False

    def check(self, profile: Profile) -> None:
        if profile.public.remote is None:
            raise ProfileError(
                "public.remote.https_url: the remote backend needs the URL of the running "
                "stack's HTTPS front (and public.remote.http_url for the redirect checks)"
            )

    @contextmanager
    def up(self, profile: Profile, run: RunContext, label: str) -> Iterator[RemoteStack]:
        stack = RemoteStack(profile, run, label)
        https = stack.public.https
        try:
            wait_for(
                TcpPort(https.host, https.port, timeout_s=2.0),
                timeout_s=REACH_TIMEOUT_S,
                what=f"remote stack at {https.address}",
                interval_s=0.5,
            )
        except ServiceStartError as error:
            raise BackendUnavailableError(
                f"the remote stack at {https.address} is unreachable ({error}). "
                "Check public.remote.https_url, DNS, and that the host is up"
            ) from None
        stack.pin_addresses()
        yield stack
