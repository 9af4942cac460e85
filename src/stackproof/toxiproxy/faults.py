"""Network faults as context managers that always undo themselves.

The undo runs in `finally`, so it runs after a failed assertion and after Ctrl-C. A second
Ctrl-C during the undo does not skip it: the undo is tried once more, then the interrupt
goes on (chaoslib likewise plays rollbacks after an interrupt). Undoing something already
gone (the proxy was deleted, the server was reset) is not an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from stackproof.toxiproxy.schema import (
    ProxyInfo,
    ProxyRef,
    Stream,
    ToxicInfo,
    ToxiproxyNotFoundError,
)

if TYPE_CHECKING:
    from stackproof.toxiproxy.client import ToxiproxyClient


@contextlib.contextmanager
def toxic(
    client: ToxiproxyClient,
    proxy: ProxyRef,
    type: str,
    *,
    attributes: Mapping[str, int] | None = None,
    stream: Stream = "downstream",
    toxicity: float = 1.0,
    name: str | None = None,
) -> Iterator[ToxicInfo]:
    """A toxic on `proxy` for the duration of the block, e.g.
    `with toxic(client, "redis", "latency", attributes={"latency": 500}):`."""
    toxic_name = name or f"{type}_{stream}"

    def remove() -> None:
        client.remove_toxic(proxy, toxic_name)

    try:
        created = client.add_toxic(
            proxy, type, attributes=attributes, stream=stream, toxicity=toxicity, name=toxic_name
        )
    except KeyboardInterrupt:  # the server may have made it before the interrupt landed
        _undo(remove)
        raise
    try:
        yield created
    finally:
        _undo(remove)


@contextlib.contextmanager
def disabled(client: ToxiproxyClient, proxy: ProxyRef) -> Iterator[ProxyInfo]:
    """`proxy` down for the duration of the block: connections are cut and refused.

    A proxy that was already disabled is left disabled afterwards.
    """
    was_enabled = client.get_proxy(proxy).enabled

    def enable() -> None:
        client.update_proxy(proxy, enabled=True)

    try:
        yield client.update_proxy(proxy, enabled=False)
    finally:
        if was_enabled:
            _undo(enable)


def _undo(action: Callable[[], None]) -> None:
    try:
        _ignoring_gone(action)
    except KeyboardInterrupt:
        _ignoring_gone(action)
        raise


def _ignoring_gone(action: Callable[[], None]) -> None:
    with contextlib.suppress(ToxiproxyNotFoundError):
        action()
