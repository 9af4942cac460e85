"""Network faults through the Toxiproxy v2 HTTP API.

- `ToxiproxyServer` / `ServerThread`: a server for that API in pure asyncio (used when no
  real Toxiproxy is configured); also `python -m stackproof.toxiproxy`.
- `ToxiproxyClient`: drives either server; `client.toxic(...)` and `client.disabled(...)` are
  faults that undo themselves.

Why a server of our own, where the project otherwise takes well-kept libraries: the real
server (Shopify's `toxiproxy-server`, a Go binary) cannot be installed here. No package in a
reachable registry ships it (PyPI and npm hold only clients; Debian has no package), and an
install step that downloads a release binary cannot reach its host. What clients speak is
its HTTP API, so the built-in server speaks that API: the third-party `toxiproxy-python`
client drives it as documented (tests/faults/test_toxiproxy_compat.py), and a real Toxiproxy
takes its place by URL or binary where one can be installed.
"""

from stackproof.toxiproxy.client import ToxiproxyClient
from stackproof.toxiproxy.faults import disabled, toxic
from stackproof.toxiproxy.schema import (
    ProxyInfo,
    ToxicInfo,
    ToxiproxyBadRequestError,
    ToxiproxyConflictError,
    ToxiproxyError,
    ToxiproxyNotFoundError,
)
from stackproof.toxiproxy.server import ServerThread, ToxiproxyServer

__all__ = [
    "ProxyInfo",
    "ServerThread",
    "ToxicInfo",
    "ToxiproxyBadRequestError",
    "ToxiproxyClient",
    "ToxiproxyConflictError",
    "ToxiproxyError",
    "ToxiproxyNotFoundError",
    "ToxiproxyServer",
    "disabled",
    "toxic",
]
