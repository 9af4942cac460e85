"""Benchmark of the fault proxy with no toxic, beside a direct connection and socat.

`python -m stackproof.bench.proxy` measures, in one run and against one upstream process:

- p50/p90/p99 round trip of a 64-byte message (ping-pong on one connection), interleaved
  over several rounds so drift hits every target alike; "added" is a target's p50 minus
  the direct connection's;
- throughput of a bulk stream each way (client -> upstream, upstream -> client);
- how long adding and removing a toxic takes to act on a live connection.

socat runs as Debian ships it (`TCP-LISTEN:...,fork TCP:...`, default 8 KiB buffer, with
`nodelay` on both sides as the proxy has); a run with `-b 262144` is reported beside it
for reference. Figures go to `reports/bench/proxy.json` and `proxy.md` (also through
`python -m stackproof.bench proxy`, via `run()`); the exit status of this module is 1 if a
target is missed: throughput >= 80 % of socat's each way, added p50 round trip <= 2x
socat's, and toxic add/remove acting within 50 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

from stackproof.toxiproxy.client import ToxiproxyClient

PAYLOAD: Final = 64
CHUNK: Final = 1 << 20
LATENCY_MS: Final = 1000  # the toxic whose arrival and departure are timed
DEADLINE_S: Final = 30.0
HEADER: Final = struct.Struct("!cQ")  # mode, byte count


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float
    p90: float
    p99: float

    @classmethod
    def of(cls, samples: list[float]) -> Percentiles:
        cuts = statistics.quantiles(samples, n=100, method="inclusive")
        return cls(round(statistics.median(samples), 1), round(cuts[89], 1), round(cuts[98], 1))


@dataclass(frozen=True, slots=True)
class TargetFigures:
    rtt_us: Percentiles
    upload_mb_s: float
    download_mb_s: float


@dataclass(frozen=True, slots=True)
class EffectFigures:
    add_ms: list[float]
    remove_ms: list[float]

    @property
    def worst_ms(self) -> float:
        return max(self.add_ms + self.remove_ms)


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    value: float
    limit: float
    unit: str
    passed: bool


@dataclass(frozen=True, slots=True)
class BenchReport:
    when: str
    machine: dict[str, str]
    config: dict[str, object]
    targets: dict[str, TargetFigures]
    added_rtt_p50_us: dict[str, float]
    toxic_effect: EffectFigures
    criteria: list[Criterion] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        proxy, socat = self.targets["proxy"], self.targets.get("socat")
        figures: dict[str, float | None] = {
            "proxy_upload_mb_s": proxy.upload_mb_s,
            "proxy_download_mb_s": proxy.download_mb_s,
            "socat_upload_mb_s": socat.upload_mb_s if socat else None,
            "socat_download_mb_s": socat.download_mb_s if socat else None,
            "proxy_added_rtt_p50_us": self.added_rtt_p50_us["proxy"],
            "socat_added_rtt_p50_us": self.added_rtt_p50_us.get("socat"),
            "toxic_effect_max_ms": self.toxic_effect.worst_ms,
        }
        return {
            "bench": "proxy",
            "figures": figures,
            "meets": {c.name: c.passed for c in self.criteria},
            "passed": self.passed,
            **data,
        }

    def write(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "proxy.json").write_text(json.dumps(self.to_json(), indent=2) + "\n", "utf-8")
        (out / "proxy.md").write_text(self.to_markdown(), "utf-8")

    def to_markdown(self) -> str:
        lines = [
            "# Fault proxy benchmark (no toxic)",
            "",
            f"{self.when} · {self.machine['cpus']} CPUs · Python {self.machine['python']}",
            "",
            "| target | p50 RTT µs | p99 RTT µs | added p50 µs | upload MB/s | download MB/s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, figures in self.targets.items():
            added = self.added_rtt_p50_us.get(name)
            lines.append(
                f"| {name} | {figures.rtt_us.p50} | {figures.rtt_us.p99} | "
                f"{'-' if added is None else added} | {figures.upload_mb_s} | "
                f"{figures.download_mb_s} |"
            )
        effect = self.toxic_effect
        lines += [
            "",
            f"Toxic takes effect on a live connection: add max {max(effect.add_ms)} ms, "
            f"remove max {max(effect.remove_ms)} ms ({len(effect.add_ms)} tries each).",
            "",
            "| criterion | value | limit | |",
            "|---|---:|---:|---|",
        ]
        for c in self.criteria:
            verdict = "pass" if c.passed else "**FAIL**"
            lines.append(f"| {c.name} | {c.value} {c.unit} | {c.limit} {c.unit} | {verdict} |")
        return "\n".join(lines) + "\n"


# -- the upstream: echo, sink or source, chosen by the first byte ---------------------------


def serve_upstream() -> None:
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_upstream_conn, args=(conn,), daemon=True).start()


def _upstream_conn(conn: socket.socket) -> None:
    with conn, contextlib.suppress(OSError):  # a client that goes away just ends its thread
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        mode, count = HEADER.unpack(_recv_exactly(conn, HEADER.size))
        if mode == b"E":  # echo
            while size := conn.recv_into(buffer):
                conn.sendall(view[:size])
        elif mode == b"S":  # sink `count` bytes, then acknowledge
            while count > 0:
                size = conn.recv_into(buffer, min(count, CHUNK))
                if not size:
                    return
                count -= size
            conn.sendall(b"K")
        elif mode == b"G":  # generate `count` bytes
            while count > 0:
                conn.sendall(view[: min(count, CHUNK)])
                count -= CHUNK


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"EOF after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


# -- measurements ----------------------------------------------------------------------------


def _connect(port: int, mode: bytes, count: int = 0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(HEADER.pack(mode, count))
    return sock


def round_trips(port: int, count: int, warmup: int = 200) -> list[float]:
    """Round-trip times in µs of `count` ping-pongs after `warmup` unmeasured ones."""
    message = b"x" * PAYLOAD
    samples = []
    with _connect(port, b"E") as sock:
        for i in range(warmup + count):
            started = time.perf_counter_ns()
            sock.sendall(message)
            got = 0
            while got < PAYLOAD:
                got += len(sock.recv(PAYLOAD))
            if i >= warmup:
                samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def upload(port: int, total: int) -> float:
    """MB/s of `total` bytes sent to the sink, until it acknowledges the last byte."""
    data = memoryview(bytes(CHUNK))
    with _connect(port, b"S", total) as sock:
        started = time.perf_counter()
        left = total
        while left > 0:
            sock.sendall(data[: min(left, CHUNK)])
            left -= CHUNK
        if sock.recv(1) != b"K":
            raise ConnectionError("sink did not acknowledge")
        return total / (time.perf_counter() - started) / 1e6


def download(port: int, total: int) -> float:
    """MB/s of `total` bytes received from the source."""
    buffer = bytearray(CHUNK)
    with _connect(port, b"G", total) as sock:
        started = time.perf_counter()
        left = total
        while left > 0:
            size = sock.recv_into(buffer)
            if not size:
                raise ConnectionError("source closed early")
            left -= size
        return total / (time.perf_counter() - started) / 1e6


class Pinger:
    """Ping-pong on one connection in a thread, recording (sent, answered) times."""

    def __init__(self, port: int) -> None:
        self.sock = _connect(port, b"E")
        self.log: list[tuple[float, float]] = []
        self.sent_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sent_at = time.monotonic()
            self.sock.sendall(b"p")
            if not self.sock.recv(1):
                return
            self.log.append((self.sent_at, time.monotonic()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(DEADLINE_S)
        self.sock.close()


def toxic_effect(client: ToxiproxyClient, proxy: str, port: int, tries: int) -> EffectFigures:
    """Milliseconds from an API call starting to the first ping it changes.

    Add: until the first ping the latency toxic holds was sent (0 if that ping left before
    the call started: the toxic caught it in flight). Remove: until the reply to the ping
    the toxic was holding arrives.
    """
    added, removed = [], []
    pinger = Pinger(port)
    try:
        for _ in range(tries):
            _wait(lambda: len(pinger.log) > 20, "pings flowing")
            started = time.monotonic()
            client.add_toxic(proxy, "latency", attributes={"latency": LATENCY_MS})
            _wait(lambda: _held(pinger), "a ping held by the toxic")
            first_held = pinger.sent_at  # sent after the call started, or it would have passed
            added.append(round(max(0.0, first_held - started) * 1000, 2))

            answered = len(pinger.log)
            started = time.monotonic()
            client.remove_toxic(proxy, "latency_downstream")
            _wait(functools.partial(_answered_more, pinger, answered), "the held ping answered")
            removed.append(round((pinger.log[answered][1] - started) * 1000, 2))
            pinger.log.clear()
    finally:
        pinger.close()
    return EffectFigures(added, removed)


def _answered_more(pinger: Pinger, than: int) -> bool:
    return len(pinger.log) > than


def _held(pinger: Pinger) -> bool:
    return time.monotonic() - pinger.sent_at > 0.2  # no answer for 200 ms: held (1 s latency)


def _wait(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark: no {what} within {DEADLINE_S:g} s")
        time.sleep(0.0005)  # poll interval of a deadline-bounded wait


# -- the processes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Child:
    process: subprocess.Popen[str]
    first_line: str
    stderr: IO[str]

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().strip()


@contextlib.contextmanager
def _process(argv: list[str], *, first_line: bool) -> Iterator[_Child]:
    """Run `argv` in its own process group (socat forks per connection) and stop the group
    at the end; stderr goes to a file, so a chatty child never blocks on a full pipe."""
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True
        )
        try:
            line = ""
            if first_line:
                assert process.stdout is not None
                if select.select([process.stdout], [], [], DEADLINE_S)[0]:
                    line = process.stdout.readline().strip()
            child = _Child(process, line, stderr)
            if first_line and not line:
                raise RuntimeError(f"{argv[0]} printed no first line: {child.errors()}")
            yield child
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.communicate(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _socat(upstream: int, buffer: int | None) -> Iterator[int]:
    port = _free_port()
    argv = ["socat"] + (["-b", str(buffer)] if buffer else [])
    argv += [
        f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,nodelay",
        f"TCP:127.0.0.1:{upstream},nodelay",
    ]
    with _process(argv, first_line=False) as child:
        _wait(lambda: _accepts(port) or child.process.poll() is not None, "socat listening")
        if child.process.poll() is not None:
            raise RuntimeError(f"socat exited: {child.errors()}")
        yield port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# -- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    rounds: int = 5  # interleaved rounds per target
    pings: int = 2000  # round trips per round
    megabytes: int = 256  # stream size per direction per round
    effect_tries: int = 10  # toxic add/remove timings

    def __post_init__(self) -> None:
        if min(self.rounds, self.pings, self.megabytes, self.effect_tries) < 1:
            raise ValueError(f"benchmark settings must be positive: {self}")


def measure(settings: Settings) -> BenchReport:
    python = sys.executable
    with contextlib.ExitStack() as stack:
        upstream = int(
            stack.enter_context(
                _process(
                    [python, "-m", "stackproof.bench.proxy", "--serve-upstream"], first_line=True
                )
            ).first_line
        )
        url = stack.enter_context(
            _process([python, "-m", "stackproof.toxiproxy", "--port", "0"], first_line=True)
        ).first_line
        client = stack.enter_context(ToxiproxyClient(url))
        proxy = client.create_proxy("bench", f"127.0.0.1:{upstream}")
        ports = {"direct": upstream}
        if shutil.which("socat"):
            ports["socat"] = stack.enter_context(_socat(upstream, None))
            ports["socat -b 256K"] = stack.enter_context(_socat(upstream, 262144))
        ports["proxy"] = proxy.port

        rtts: dict[str, list[float]] = {name: [] for name in ports}
        ups: dict[str, list[float]] = {name: [] for name in ports}
        downs: dict[str, list[float]] = {name: [] for name in ports}
        for _ in range(settings.rounds):
            for name, port in ports.items():
                rtts[name] += round_trips(port, settings.pings)
                ups[name].append(upload(port, settings.megabytes << 20))
                downs[name].append(download(port, settings.megabytes << 20))
        effect = toxic_effect(client, proxy.name, proxy.port, settings.effect_tries)

    targets = {
        name: TargetFigures(
            Percentiles.of(rtts[name]),
            round(statistics.median(ups[name]), 1),
            round(statistics.median(downs[name]), 1),
        )
        for name in ports
    }
    direct = targets["direct"].rtt_us.p50
    added = {
        name: round(t.rtt_us.p50 - direct, 1) for name, t in targets.items() if name != "direct"
    }
    return BenchReport(
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        machine={
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": str(os.cpu_count()),
        },
        config={
            "rounds": settings.rounds,
            "pings_per_round": settings.pings,
            "payload_bytes": PAYLOAD,
            "stream_megabytes": settings.megabytes,
            "effect_tries": settings.effect_tries,
            "latency_toxic_ms": LATENCY_MS,
        },
        targets=targets,
        added_rtt_p50_us=added,
        toxic_effect=effect,
        criteria=_criteria(targets, added, effect),
    )


def _criteria(
    targets: dict[str, TargetFigures], added: dict[str, float], effect: EffectFigures
) -> list[Criterion]:
    result = [
        Criterion(
            "toxic add/remove acts within", effect.worst_ms, 50.0, "ms", effect.worst_ms <= 50
        )
    ]
    socat = targets.get("socat")
    if socat is None:
        result.append(Criterion("socat available for comparison", 0, 1, "", False))
        return result
    proxy = targets["proxy"]
    for label, ours, theirs in (
        ("upload vs socat", proxy.upload_mb_s, socat.upload_mb_s),
        ("download vs socat", proxy.download_mb_s, socat.download_mb_s),
    ):
        share = round(100 * ours / theirs, 1)
        result.append(Criterion(f"throughput, {label}", share, 80.0, "%", share >= 80))
    allowed = round(2 * max(added["socat"], 0.0), 1)
    result.append(
        Criterion(
            "added p50 RTT (limit: 2x socat's)",
            added["proxy"],
            allowed,
            "µs",
            added["proxy"] <= allowed,
        )
    )
    return result


def run(root: Path, out: Path) -> dict[str, object]:
    """Entry point for `python -m stackproof.bench proxy`: measure, write, return the figures."""
    report = measure(Settings())
    report.write(out)
    return report.to_json()


def main(argv: list[str] | None = None) -> int:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="python -m stackproof.bench.proxy", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("reports/bench"), help="output directory")
    parser.add_argument("--rounds", type=int, default=defaults.rounds, help="rounds per target")
    parser.add_argument("--pings", type=int, default=defaults.pings, help="round trips per round")
    parser.add_argument("--megabytes", type=int, default=defaults.megabytes, help="MiB per stream")
    parser.add_argument("--effect-tries", type=int, default=defaults.effect_tries, help="timings")
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_upstream:
        serve_upstream()
        return 0
    report = measure(Settings(args.rounds, args.pings, args.megabytes, args.effect_tries))
    report.write(args.out)
    print(report.to_markdown())
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
