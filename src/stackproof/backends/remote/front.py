"""A running stack's public front: the name clients send, and where to connect.

By default the harness connects to whatever the URL's host name resolves to, pinned to the
first address that answers so every check (and sslyze) meets one host. With
`remote.connect` it connects to the address given while sending the public host name — in
the TLS handshake (SNI) and the `Host` header — as `curl --resolve` does; the public host
name is then `stack.public_host` when the profile sets it, else the URL's.
"""

from __future__ import annotations

import dataclasses
import socket
from urllib.parse import urlsplit

from stackproof.backends.values import Endpoint, PublicFront
from stackproof.errors import ProfileError
from stackproof.profile import Profile
from stackproof.profile.remote import split_address


def endpoint_of(url: str) -> Endpoint:
    parts = urlsplit(url)
    if parts.hostname is None:
        raise ProfileError(f"{url!r} has no host")
    default = 443 if parts.scheme == "https" else 80
    return Endpoint(parts.hostname, parts.port or default)


def answering_address(endpoint: Endpoint) -> str:
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


def public_host(profile: Profile, https_url: str) -> str:
    """`stack.public_host` where the profile sets it, else the HTTPS URL's host name."""
    if "public_host" in profile.stack.model_fields_set:
        return profile.stack.public_host
    return endpoint_of(https_url).host


def planned_front(profile: Profile) -> PublicFront:
    remote = profile.public.remote
    assert remote is not None  # RemoteBackend.check demands it
    https = endpoint_of(remote.https_url)
    http = endpoint_of(remote.http_url) if remote.http_url else None
    connect = profile.remote.connect
    if connect.https is not None:
        https = Endpoint(*split_address(connect.https))
    if connect.http is not None:
        http = Endpoint(*split_address(connect.http))
    return PublicFront(
        host=public_host(profile, remote.https_url),
        https=https,
        http=http,
        ca_bundle=profile.policy.tls.ca_bundle,
        public_https_port=endpoint_of(remote.https_url).port if connect.https else None,
        public_http_port=(
            endpoint_of(remote.http_url).port if connect.http and remote.http_url else None
        ),
    )


def pinned(front: PublicFront) -> PublicFront:
    """Connect to the address that answered, so every check (and sslyze) meets one host."""
    https = Endpoint(answering_address(front.https), front.https.port)
    http = front.http and Endpoint(answering_address(front.http), front.http.port)
    return dataclasses.replace(front, https=https, http=http)
