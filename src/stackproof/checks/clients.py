"""Distinct clients of a loopback front: each test that counts requests gets an address of
its own in 127.0.0.0/8, so a per-client rate limit counts only that test's requests (and
other suites' traffic from 127.0.0.1 is never limited by it).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import threading

from stackproof.backends.values import PublicFront
from stackproof.errors import CapabilityMissingError
from stackproof.profile.chaos import is_loopback_host

MERGED_ENABLE = "a backend whose front sees the client's address (process, remote)"
_counter = itertools.count(1)
_lock = threading.Lock()


def merged_clients(why: str) -> str:
    return f"the front cannot tell the harness's clients apart: {why}"


def own_client_address(front: PublicFront) -> str | None:
    """A loopback address no other client of this process uses; None for a remote front
    (whose per-client limit then counts this machine as one client). A front that sees every
    client of the harness as one (`clients_merged`) cannot give a test a count of its own:
    the checks that need one skip, saying why, rather than share (and spend) one count."""
    if front.clients_merged is not None:
        raise CapabilityMissingError(merged_clients(front.clients_merged), enable=MERGED_ENABLE)
    if not is_loopback_host(front.https.host):
        return None
    with _lock:
        number = next(_counter)
    # 127.<pid-derived>.<n>: parallel workers (other PIDs) do not share addresses.
    base = int(ipaddress.IPv4Address("127.0.0.0")) | (os.getpid() % 250 + 2) << 16
    return str(ipaddress.IPv4Address(base | number))
