"""What each toxic does to one direction of one connection, after Toxiproxy's `toxics/*.go`.

An effect sees the direction's data in order: `data()` for each chunk, `eof()` once at the
end, and passes what survives to the next effect with `pipe.forward`. Effects run one chunk
at a time; a chunk carries the time it was read, so latency is counted from arrival and
consecutive chunks are delayed in parallel, not one after another (Toxiproxy's timestamps).

Whether a toxic applies to a connection is drawn once per connection from `toxicity`, and
drawn again when the toxic is updated, as Toxiproxy re-runs a toxic's stub on update.
When a toxic is removed mid-wait, the wait ends at once and held data moves on unharmed
("don't drop any data on the floor"), except where the toxic's own semantics drop it.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Callable
from typing import Final, Protocol

from stackproof.toxiproxy.toxics import Toxic

FOREVER: Final = math.inf
BANDWIDTH_SLICE_S: Final = 0.1  # bandwidth sends at most 100 ms worth of data at a time


class Pipe(Protocol):
    """The direction an effect runs in, as the effect sees it."""

    rng: random.Random

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> asyncio.TimerHandle: ...

    async def forward(self, after: Effect, data: bytes, ts: float) -> None: ...

    async def forward_eof(self, after: Effect) -> None: ...

    async def sleep_until(self, when: float) -> None:
        """Sleep until `when`, or less: any change to the toxics or new data wakes it."""

    def close_link(self) -> None: ...

    def reset_link(self) -> None: ...


class Effect:
    """A toxic that passes everything through; subclasses override what they change."""

    def __init__(self, toxic: Toxic, pipe: Pipe) -> None:
        self.toxic = toxic
        self.pipe = pipe
        self.version = toxic.version
        self.detached = False
        self.active = self._roll()

    @property
    def seq(self) -> int:
        return self.toxic.seq

    @property
    def live(self) -> bool:
        """Still on this connection and drawn to apply to it."""
        return self.active and not self.detached

    def _roll(self) -> bool:
        return self.pipe.rng.random() < self.toxic.toxicity

    def attach(self) -> None:
        """The toxic now applies to this connection."""

    def update(self) -> None:
        """The toxic's attributes or toxicity changed."""
        self.version = self.toxic.version
        self.active = self._roll()

    def detach(self) -> None:
        """The toxic was removed from the proxy."""
        self.detached = True

    def dispose(self) -> None:
        """The connection is gone; drop timers without side effects."""
        self.detached = True

    async def data(self, data: bytes, ts: float) -> None:
        if self.live:
            await self.on_data(data, ts)
        else:
            await self.pipe.forward(self, data, ts)

    async def eof(self) -> None:
        if self.live:
            await self.on_eof()
        else:
            await self.pipe.forward_eof(self)

    async def on_data(self, data: bytes, ts: float) -> None:
        await self.pipe.forward(self, data, ts)

    async def on_eof(self) -> None:
        await self.pipe.forward_eof(self)

    async def hold_until(self, when: float) -> bool:
        """Wait until `when`; False if the toxic stopped applying first."""
        while self.live and self.pipe.now() < when:
            await self.pipe.sleep_until(when)
        return self.live


class Latency(Effect):
    """Delays each chunk by latency ± jitter (ms), counted from when it was read."""

    async def on_data(self, data: bytes, ts: float) -> None:
        version, due = -1, ts
        while self.live:
            if version != self.toxic.version:  # updated while waiting: apply the new delay
                version, due = self.toxic.version, ts + self._delay_s()
            if self.pipe.now() >= due:
                break
            await self.pipe.sleep_until(due)
        await self.pipe.forward(self, data, max(ts, due) if self.live else self.pipe.now())

    def _delay_s(self) -> float:
        jitter = self.toxic.attr("jitter")
        spread = self.pipe.rng.randrange(-jitter, jitter) if jitter > 0 else 0
        return (self.toxic.attr("latency") + spread) / 1000


class Bandwidth(Effect):
    """Passes data at `rate` KB/s (1 KB = 1000 bytes), in slices of at most 100 ms of data."""

    def __init__(self, toxic: Toxic, pipe: Pipe) -> None:
        super().__init__(toxic, pipe)
        self.free_at = 0.0

    async def on_data(self, data: bytes, ts: float) -> None:
        while data and self.live:
            rate = self.toxic.attr("rate") * 1000  # bytes per second
            if rate <= 0:  # a zero rate lets nothing through until the toxic changes
                await self.pipe.sleep_until(FOREVER)
                continue
            piece = data[: max(1, int(rate * BANDWIDTH_SLICE_S))]
            due = max(self.pipe.now(), self.free_at) + len(piece) / rate
            version = self.toxic.version
            while self.live and version == self.toxic.version and self.pipe.now() < due:
                await self.pipe.sleep_until(due)
            if not self.live:
                break
            if version != self.toxic.version:
                continue  # the rate changed while waiting: price this piece again
            self.free_at = due
            await self.pipe.forward(self, piece, due)
            data = data[len(piece) :]
        if data:
            await self.pipe.forward(self, data, self.pipe.now())


class SlowClose(Effect):
    """Delays the end of the stream (the FIN) by `delay` ms."""

    async def on_eof(self) -> None:
        await self.hold_until(self.pipe.now() + self.toxic.attr("delay") / 1000)
        await self.pipe.forward_eof(self)


class Timeout(Effect):
    """Drops all data; closes the connection after `timeout` ms without data (0: never).

    Toxiproxy's timer restarts with each chunk it drops, and removing the toxic closes the
    connections it held (its `Cleanup`), so a client never sees the dropped data "resume".
    """

    def __init__(self, toxic: Toxic, pipe: Pipe) -> None:
        super().__init__(toxic, pipe)
        self.timer: asyncio.TimerHandle | None = None

    def attach(self) -> None:
        self._arm()

    def update(self) -> None:
        super().update()
        self._arm()

    def detach(self) -> None:
        was_live = self.live
        self.dispose()
        if was_live:
            self.pipe.close_link()

    def dispose(self) -> None:
        super().dispose()
        self._disarm()

    async def on_data(self, data: bytes, ts: float) -> None:
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        timeout_ms = self.toxic.attr("timeout")
        if self.live and timeout_ms > 0:
            self.timer = self.pipe.call_at(
                self.pipe.now() + timeout_ms / 1000, self.pipe.close_link
            )

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class ResetPeer(Effect):
    """On the first data (or end of stream), waits `timeout` ms and resets both sides (RST).

    The data that triggers it, and anything after, is dropped: the point is a peer that
    vanishes mid-conversation.
    """

    def __init__(self, toxic: Toxic, pipe: Pipe) -> None:
        super().__init__(toxic, pipe)
        self.timer: asyncio.TimerHandle | None = None

    def update(self) -> None:
        super().update()
        if not self.live:  # drawn out on update: a pending reset is called off
            self._cancel()

    def detach(self) -> None:
        self.dispose()

    def dispose(self) -> None:
        super().dispose()
        self._cancel()

    async def on_data(self, data: bytes, ts: float) -> None:
        self._trigger()

    async def on_eof(self) -> None:
        self._trigger()
        await self.hold_until(FOREVER)  # the reset ends the connection unless we are removed
        await self.pipe.forward_eof(self)

    def _trigger(self) -> None:
        if self.timer is None:
            when = self.pipe.now() + self.toxic.attr("timeout") / 1000
            self.timer = self.pipe.call_at(when, self.pipe.reset_link)

    def _cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Slicer(Effect):
    """Cuts chunks into slices of about `average_size` ± `size_variation` bytes, with
    `delay` µs between slices, using Toxiproxy's halving so slice sizes vary evenly."""

    async def on_data(self, data: bytes, ts: float) -> None:
        cuts = self._cuts(len(data))
        for start, end in itertools.pairwise(cuts):
            await self.pipe.forward(self, data[start:end], ts)
            if end == len(data):
                return
            delay_s = self.toxic.attr("delay") / 1_000_000
            if delay_s > 0 and not await self.hold_until(self.pipe.now() + delay_s):
                await self.pipe.forward(self, data[end:], ts)
                return

    def _cuts(self, size: int) -> list[int]:
        average, variation = self.toxic.attr("average_size"), self.toxic.attr("size_variation")
        cuts, stack = [0], [(0, size)]
        while stack:  # depth-first, left to right, like Toxiproxy's recursion
            start, end = stack.pop()
            if (end - start) - average <= variation:
                cuts.append(end)
                continue
            spread = self.pipe.rng.randrange(-variation, variation) if variation > 0 else 0
            middle = start + (end - start) // 2 + spread
            stack.extend([(middle, end), (start, middle)])
        return cuts


class LimitData(Effect):
    """Passes `bytes` bytes in total, then closes the connection."""

    def __init__(self, toxic: Toxic, pipe: Pipe) -> None:
        super().__init__(toxic, pipe)
        self.passed = 0

    async def on_data(self, data: bytes, ts: float) -> None:
        allowed = data[: max(0, self.toxic.attr("bytes") - self.passed)]
        if allowed:
            self.passed += len(allowed)
            await self.pipe.forward(self, allowed, ts)
        if self.live and self.passed >= self.toxic.attr("bytes"):
            self.pipe.close_link()


EFFECTS: Final[dict[str, type[Effect]]] = {
    "latency": Latency,
    "bandwidth": Bandwidth,
    "slow_close": SlowClose,
    "timeout": Timeout,
    "reset_peer": ResetPeer,
    "slicer": Slicer,
    "limit_data": LimitData,
}


def make_effect(toxic: Toxic, pipe: Pipe) -> Effect:
    return EFFECTS[toxic.type.name](toxic, pipe)
