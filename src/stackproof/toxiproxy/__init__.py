"""Network faults through the Toxiproxy v2 HTTP API.

- `ToxiproxyServer` / `ServerThread`: a server for that API in pure asyncio (used when no
  real Toxiproxy is configured); also `python -m stackproof.toxiproxy`.
- `ToxiproxyClient`: drives either server; `client.toxic(...)` and `client.disabled(...)` are
  faults that undo themselves.
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
