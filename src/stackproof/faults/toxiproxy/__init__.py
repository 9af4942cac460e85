"""Network faults through the Toxiproxy v2 HTTP API.

- `ToxiproxyServer` / `ServerThread`: a server for that API in pure asyncio (used when no
  real Toxiproxy is configured); also `python -m stackproof.faults.toxiproxy`.
- `ToxiproxyClient`: drives either server; `client.toxic(...)` and `client.disabled(...)` are
  faults that undo themselves.
"""

from stackproof.faults.toxiproxy.client import ToxiproxyClient
from stackproof.faults.toxiproxy.faults import disabled, toxic
from stackproof.faults.toxiproxy.schema import (
    ProxyInfo,
    ToxicInfo,
    ToxiproxyBadRequestError,
    ToxiproxyConflictError,
    ToxiproxyError,
    ToxiproxyNotFoundError,
)
from stackproof.faults.toxiproxy.server import ServerThread, ToxiproxyServer

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
