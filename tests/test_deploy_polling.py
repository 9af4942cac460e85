"""R-DEP-1's polling judgment against crafted probe logs, and the unready release's clock.

The reference deploy polls at once after the restart, then on a schedule anchored to that
moment (every 5 s, for at most 60 s). Its first poll always finds the release not yet
listening; on a loaded machine the release may listen later still, and a probe may be
logged late. None of that is the deploy's fault; a deploy that overruns, gives up, or polls
too often or too rarely is.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from stackproof.drills import unready
from stackproof.drills.polling import Polling, ProbeLog
from stackproof.errors import PreconditionError
from stackproof.readiness import Check, wait_for

POLICY = Polling(interval_s=5.0, deadline_s=60.0)
SPAWN = 1000.0  # when the release was started (the stack's lifecycle), monotonic seconds
RESTART_RETURNS = 0.35  # the deploy's restart call returns, and it polls at once


def anchored(
    *,
    listening_after: float = 0.7,
    late: dict[int, float] | None = None,
    interval: float = 5.0,
    deadline: float = 60.0,
) -> ProbeLog:
    """What the release receives from a deploy polling on an anchored schedule."""
    start = SPAWN + RESTART_RETURNS
    slots = [start + k * interval for k in range(int(deadline // interval) + 1)]
    late = late or {}
    received = [t + late.get(k, 0.0) for k, t in enumerate(slots) if t >= SPAWN + listening_after]
    return ProbeLog(tuple(sorted(received)))


def report(log: ProbeLog) -> str:
    return POLICY.problems(log, origin=SPAWN).report()


def test_the_reference_deploy_passes() -> None:
    assert not POLICY.problems(anchored(), origin=SPAWN), report(anchored())


def test_a_probe_logged_late_does_not_make_the_deploy_poll_too_often() -> None:
    """One probe seen 1.5 s late: the next, on time, follows it after 3.5 s."""
    log = anchored(late={6: 1.5})
    assert not POLICY.problems(log, origin=SPAWN), report(log)


def test_a_release_slow_to_listen_does_not_shorten_the_deadline() -> None:
    """The release listened only 6 s after it was started: two polls found nothing."""
    log = anchored(listening_after=6.0)
    assert not POLICY.problems(log, origin=SPAWN), report(log)


@pytest.mark.parametrize(
    ("log", "key", "said"),
    [
        (anchored(deadline=90.0), "deadline", "beyond the 60 s deadline"),  # overruns
        (anchored(deadline=65.0), "deadline", "beyond the 60 s deadline"),  # one poll too many
        (ProbeLog(()), "polls", "0 health probe(s)"),  # gives up at once
        (ProbeLog((SPAWN + 0.8,)), "polls", "1 health probe(s)"),
        (anchored(interval=1.0), "interval", "more often than every 5 s"),
        (anchored(interval=10.0), "interval", "less often than every 5 s"),
        (anchored(deadline=30.0), "deadline", "before the 60 s deadline"),
    ],
    ids=["overrun", "one-too-many", "no-probe", "one-probe", "every-1s", "every-10s", "gave-up"],
)
def test_a_deploy_that_polls_wrongly_fails(log: ProbeLog, key: str, said: str) -> None:
    found = POLICY.problems(log, origin=SPAWN).found
    assert key in found, report(log)
    assert any(said in message for message in found[key]), report(log)


def test_an_overrun_is_seen_while_the_deploy_still_runs() -> None:
    assert POLICY.overran(anchored(deadline=90.0), origin=SPAWN)
    assert not POLICY.overran(anchored(), origin=SPAWN)


def test_a_release_that_could_not_listen_keeps_the_check_from_judging(tmp_path: Path) -> None:
    """Its port was taken (a second stack handed the same one): not a finding on the deploy."""
    log = tmp_path / "probes.jsonl"
    failed = {"event": "listen_failed", "error": "[Errno 98] Address already in use"}
    log.write_text(json.dumps(failed) + "\n", "utf-8")
    with pytest.raises(PreconditionError, match="Address already in use"):
        POLICY.problems(ProbeLog.read(log, "watcher"), origin=SPAWN)


# --- the unready release's own clock ----------------------------------------------------------


class _SpyLock:
    """The release's log lock, held by the test, telling when a request waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.waited = threading.Event()

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self.waited.set()  # someone else holds it: a request waits for the log
            self._lock.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lock.release()


class _Set:
    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.description = "a request waits for the log"

    def check(self) -> Check:
        return Check(self.event.is_set(), "not yet")


@pytest.fixture
def release(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "probes.jsonl"
    server = ThreadingHTTPServer(("127.0.0.1", 0), unready.make_handler(log))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/readyz", log
    finally:
        server.shutdown()
        server.server_close()


def test_a_probe_is_timed_when_it_arrives_not_when_its_line_is_written(
    release: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stalled write (another request holding the log, a busy disk) must not make the
    probe look late: that is how one late probe turned into "more often than every 5 s"."""
    url, log = release
    lock = _SpyLock()
    monkeypatch.setattr(unready, "_lock", lock)
    with lock:  # the log is busy while the probe arrives
        probe = threading.Thread(target=httpx.get, args=(url,), daemon=True)
        probe.start()
        wait_for(_Set(lock.waited), timeout_s=10, what="the probe", interval_s=0.01)
        arrived_by = time.monotonic()
    probe.join(timeout=10)
    (record,) = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    assert record["t"] <= arrived_by


def test_a_release_whose_port_is_taken_says_so_in_its_log(tmp_path: Path) -> None:
    log = tmp_path / "probes.jsonl"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert unready.main(["--port", str(port), "--log", str(log)]) == 1
    read = ProbeLog.read(log, "watcher")
    assert read.probes == ()
    assert read.listen_error is not None
    assert "in use" in read.listen_error
