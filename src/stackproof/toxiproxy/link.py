"""One proxied connection: a client socket, an upstream socket, and a direction each way.

A direction with no toxics is a plain relay on the loop's reader callback: `recv_into` a
buffer, `send` it on, and only if the peer is slow, hold the rest and wait for writability
(the same shape as socat, with no per-chunk task or copy). When a toxic applies, reads go
to a queue instead and a pump task passes each chunk through the effects in chain order
(`effects.py`). The switch is immediate in both ways, so toxic changes reach live
connections at once; the pump goes back to the plain relay once its queue is empty.

Ends of stream are relayed as half-closes (shutdown of the write side), and the connection
is closed when both directions have ended. Toxiproxy closes both sides at the first end of
stream instead; relaying the half-close keeps request/response over a half-closed socket
working, as it does through socat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import socket
import struct
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from stackproof.toxiproxy.effects import Effect, make_effect
from stackproof.toxiproxy.sockets import resolve
from stackproof.toxiproxy.toxics import Stream, Toxic

log = logging.getLogger(__name__)

RECV_SIZE: Final = 256 * 1024
QUEUE_HIGH: Final = 1024 * 1024  # queued bytes at which a toxic-slowed direction stops reading
QUEUE_LOW: Final = 256 * 1024
FROM_START: Final = -1  # a chunk that has not met any effect yet
PAST_ALL: Final = sys.maxsize  # a chunk that has been through the chain already
LINGER_RESET: Final = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


class LinkClosedError(Exception):
    """The connection closed while a chunk was on its way."""


@dataclass(slots=True)
class _Chunk:
    data: bytes
    ts: float
    after: int  # the seq of the last effect this chunk has passed


class _Eof:
    pass


EOF: Final = _Eof()


class Link:
    """A client connection and its upstream connection, relayed both ways."""

    def __init__(
        self,
        client: socket.socket,
        upstream: socket.socket,
        chains: dict[Stream, list[Toxic]],
        rng: random.Random,
        on_closed: Callable[[Link], None],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.rng = rng
        self.closed = False
        self._sockets = (client, upstream)
        self._on_closed = on_closed
        self.directions: dict[Stream, Direction] = {
            "upstream": Direction(self, client, upstream, chains["upstream"]),
            "downstream": Direction(self, upstream, client, chains["downstream"]),
        }

    def start(self) -> None:
        for direction in self.directions.values():
            direction.start()

    def toxics_changed(self, stream: Stream) -> None:
        self.directions[stream].toxics_changed()

    def direction_finished(self) -> None:
        if all(d.finished for d in self.directions.values()):
            self.close()

    def close(self, *, reset: bool = False) -> None:
        """Close both sockets; with `reset`, abortively, so both peers get an RST."""
        if self.closed:
            return
        self.closed = True
        for direction in self.directions.values():
            direction.stop()
        for sock in self._sockets:
            if reset:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            sock.close()
        self._on_closed(self)


class Direction:
    """Bytes from `src` to `dst`, through the toxics of one stream (the effects' `Pipe`)."""

    def __init__(
        self, link: Link, src: socket.socket, dst: socket.socket, chain: Sequence[Toxic]
    ) -> None:
        self.link = link
        self.loop = link.loop
        self.rng = link.rng
        self.src, self.dst = src, dst
        self.src_fd, self.dst_fd = src.fileno(), dst.fileno()
        self.chain = chain  # the proxy's live list for this stream
        self.buffer = bytearray(RECV_SIZE)
        self.view = memoryview(self.buffer)
        self.reading = False
        self.pending: tuple[int, int] | None = None  # unsent part of `buffer` (plain relay)
        self.slow = False  # toxics apply: reads go to `queue` and the pump
        self.queue: deque[_Chunk | _Eof] = deque()
        self.queued = 0
        self.effects: list[Effect] = []
        self.pump: asyncio.Task[None] | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.eof_read = False
        self.src_failed = False
        self.finished = False

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._sync_effects()
        if self.effects:
            self._go_slow()
        self._start_reading()

    def toxics_changed(self) -> None:
        if self.finished or self.link.closed:
            return
        self._sync_effects()
        if self.link.closed:
            return
        if self.effects and not self.slow:
            self._go_slow()
        self._poke()

    def stop(self) -> None:
        """Drop every loop registration, before the link closes the sockets."""
        self._stop_reading()
        self.loop.remove_writer(self.dst_fd)
        self.pending = None
        for effect in self.effects:
            effect.dispose()
        if self.pump is not None and self.pump is not asyncio.current_task():
            self.pump.cancel()

    def _sync_effects(self) -> None:
        """Match this direction's effects to the proxy's chain: attach, update, detach."""
        by_seq = {toxic.seq: toxic for toxic in self.chain}
        kept: list[Effect] = []
        for effect in self.effects:
            toxic = by_seq.pop(effect.seq, None)
            if toxic is None:
                effect.detach()  # may close the link (a removed timeout toxic does)
                if self.link.closed:
                    return
                continue
            if effect.version != toxic.version:
                effect.update()
            kept.append(effect)
        added = [make_effect(toxic, self) for toxic in by_seq.values()]
        self.effects = sorted(kept + added, key=lambda e: e.seq)
        for effect in added:
            effect.attach()

    # -- plain relay ----------------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self.reading and not self.eof_read:
            self.reading = True
            self.loop.add_reader(self.src_fd, self._on_readable)

    def _stop_reading(self) -> None:
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.src_fd)

    def _on_readable(self) -> None:
        try:
            size = self.src.recv_into(self.buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # reset by the peer: relay what we have, then close everything
            size, self.src_failed = 0, True
        if size == 0:
            self._stop_reading()
            self.eof_read = True
            if self.slow:
                self.queue.append(EOF)
                self._poke()
            else:
                self._send_eof()
            return
        if self.slow:
            self.queue.append(_Chunk(bytes(self.view[:size]), self.loop.time(), FROM_START))
            self.queued += size
            if self.queued >= QUEUE_HIGH:
                self._stop_reading()
            self._poke()
            return
        try:
            sent = self.dst.send(self.view[:size])
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.link.close()
            return
        if sent < size:
            self.pending = (sent, size)
            self._stop_reading()
            self.loop.add_writer(self.dst_fd, self._on_writable)

    def _on_writable(self) -> None:
        if self.pending is None:
            return
        start, end = self.pending
        try:
            start += self.dst.send(self.view[start:end])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.link.close()
            return
        if start < end:
            self.pending = (start, end)
            return
        self.pending = None
        self.loop.remove_writer(self.dst_fd)
        self._start_reading()

    def _send_eof(self) -> None:
        self.finished = True
        if self.src_failed:
            self.link.close()
            return
        try:
            self.dst.shutdown(socket.SHUT_WR)
        except OSError:
            self.link.close()
            return
        self.link.direction_finished()

    # -- with toxics ----------------------------------------------------------------------

    def _go_slow(self) -> None:
        self.slow = True
        if self.pending is not None:  # already relayed, so it skips the new toxics
            start, end = self.pending
            self.pending = None
            self.loop.remove_writer(self.dst_fd)
            self.queue.appendleft(_Chunk(bytes(self.view[start:end]), self.loop.time(), PAST_ALL))
            self.queued += end - start
            self._start_reading()
        if self.pump is None:
            self.pump = self.loop.create_task(self._run_pump())
            self.pump.add_done_callback(self._pump_done)

    def _go_fast(self) -> None:
        self.slow = False
        self.pump = None
        self._start_reading()

    async def _run_pump(self) -> None:
        try:
            while not self.link.closed:
                if self.queue:
                    item = self.queue.popleft()
                    if isinstance(item, _Eof):
                        await self._eof_after(FROM_START)
                        return
                    self.queued -= len(item.data)
                    if self.queued <= QUEUE_LOW:
                        self._start_reading()
                    await self._data_after(item.after, item.data, item.ts)
                elif self.effects:
                    await self.sleep_until(math.inf)
                else:  # no toxics and nothing queued: back to the plain relay
                    self._go_fast()
                    return
        except LinkClosedError:
            pass

    def _pump_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("relay failed; closing the connection", exc_info=error)
            self.link.close()

    def _next_effect(self, after: int) -> Effect | None:
        return next((e for e in self.effects if e.seq > after), None)

    async def _data_after(self, after: int, data: bytes, ts: float) -> None:
        effect = self._next_effect(after)
        if effect is None:
            await self._write(data)
        else:
            await effect.data(data, ts)

    async def _eof_after(self, after: int) -> None:
        effect = self._next_effect(after)
        if effect is None:
            if not self.link.closed:
                self._send_eof()
        else:
            await effect.eof()

    async def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.link.closed:
                raise LinkClosedError
            try:
                view = view[self.dst.send(view) :]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self.link.close()
                raise LinkClosedError from None
            if view:
                await self._writable()

    async def _writable(self) -> None:
        future: asyncio.Future[None] = self.loop.create_future()
        self.loop.add_writer(self.dst_fd, resolve, future)
        try:
            await future
        finally:
            if not self.link.closed:  # else stop() removed it before the socket closed
                self.loop.remove_writer(self.dst_fd)

    def _poke(self) -> None:
        if self.waiter is not None:
            resolve(self.waiter)

    # -- the Pipe the effects see ---------------------------------------------------------

    def now(self) -> float:
        return self.loop.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return self.loop.call_at(when, callback)

    async def forward(self, after: Effect, data: bytes, ts: float) -> None:
        await self._data_after(after.seq, data, ts)

    async def forward_eof(self, after: Effect) -> None:
        await self._eof_after(after.seq)

    async def sleep_until(self, when: float) -> None:
        future: asyncio.Future[None] = self.loop.create_future()
        self.waiter = future
        timer = None if math.isinf(when) else self.loop.call_at(when, resolve, future)
        try:
            await future
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def close_link(self) -> None:
        self.link.close()

    def reset_link(self) -> None:
        self.link.close(reset=True)
