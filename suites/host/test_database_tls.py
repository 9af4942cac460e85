"""Database links that leave the host use TLS (R-TLS-8): in the DSN, and on the wire.

A link leaves the host when its target is not the host itself (see `checks.dbtls`). Its DSN
must ask for TLS (`sslmode=require`/`verify-full`, `rediss://`) — a DSN that merely allows it
(libpq's default `prefer`) fails even when the server happens to speak TLS — and the server,
reached as the host reaches it, must answer PostgreSQL's SSLRequest with `S` and complete a
handshake, or speak Redis inside TLS.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from stackproof.backends import Stack
from stackproof.backends.hosts import HostAccess
from stackproof.checks.dbtls import database_links, wire
from stackproof.checks.evidence import Evidence
from stackproof.checks.host import own_addresses
from stackproof.checks.problems import Problems


@pytest.mark.requirement("R-TLS-8")
@pytest.mark.needs("hosted_services")
def test_database_links_that_leave_the_host_use_tls(
    stack: Stack, host: HostAccess, evidence: Evidence
) -> None:
    hosted = dict(host.services())
    if not hosted:
        pytest.skip("the profile says of no service how it runs on the host (remote.services)")
    environments = {name: service.environment() for name, service in hosted.items()}
    if not any(environments.values()):
        pytest.skip("no service's environment can be read (remote.services.*.env_file)")
    addresses = set(own_addresses(host))
    links = database_links(environments)
    leaving = [link for link in links if link.leaves(addresses)]
    evidence.add("links", {link.label: "leaves the host" if link in leaving else "on the host"
                           for link in links})  # fmt: skip
    if not leaving:
        pytest.skip("every database link of the services stays on the host: nothing to check")
    problems = Problems(f"database links leaving {host.name}")
    seen = {}
    for link in leaving:
        if problem := link.config_problem():
            problems.add(f"{link.label}: DSN", problem)
        ca = stack.files().read_bytes(PurePosixPath(link.ca_file)) if link.ca_file else None
        with host.forward(link.host, link.port) as endpoint:
            found = wire(link, endpoint, ca)
        seen[link.label] = {"tls": found.tls, "detail": found.detail, "verified": found.verified}
        problems.expect(found.tls, f"{link.label}: wire", found.detail)
    evidence.add("wire", seen)
    problems.raise_if_any()
