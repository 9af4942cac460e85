"""Sink scanning speed: canaries and credential patterns over realistic logs.

Objective (issue: security suites): >= 100 MB/s of logs for tens of canaries and the
credential patterns. Reported, never asserted in the tests.

The logs are generated the way the reference stack writes them (the services' lines with
request IDs, nginx access lines, PostgreSQL and Redis server lines, JSON lines, AniList
calls, tracebacks, redacted URLs, e-mail addresses, hashed user IDs), with a fixed seed.
Leaks are planted at known lines: canaries in their encodings (raw, percent-encoded,
base64 inside a longer text, hex, JSON-escaped, cut in half) and credentials (URLs with
passwords, bearer tokens, password assignments). A run counts as measured only if every
planted leak is found and nothing else is (recall and precision on this corpus), and the
findings carry no secret.

For scale, the same corpus is scanned by the obvious pure-Python ways (one `bytes.find` per
needle; one `re` alternation) on a slice; detect-secrets does about 0.3 MB/s.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stackproof.checks.sinks import SinkScanner

CORPUS_MB = 64
CANARIES = 40
PLANTED_CANARIES = 160
PLANTED_CREDENTIALS = 40
ROUNDS = 5
BASELINE_SLICE_MB = 4
OBJECTIVE_MB_S = 100.0
SEED = 20261123

_PATHS = ["/bot/interactions", "/auth/link", "/auth/callback", "/bot/", "/auth/", "/readyz"]
_AGENTS = ["python-httpx/0.27.2", "Discord-Interactions/1.0", "Mozilla/5.0 (X11; Linux x86_64)"]


def _corpus_lines(rng: random.Random) -> list[Callable[[], str]]:
    """Makers of the kinds of line the reference stack logs, by weight."""

    def hexid(n: int = 32) -> str:
        return "%0*x" % (n, rng.getrandbits(4 * n))  # noqa: UP031 - zero-padded hex

    def stamp() -> str:
        minute, second, milli = rng.randrange(60), rng.randrange(60), rng.randrange(1000)
        return f"2026-11-23 12:{minute:02d}:{second:02d},{milli:03d}"

    def app() -> str:
        service = rng.choice(["bot", "auth"])
        return (
            f"{stamp()} INFO {service} request_id={hexid()} method={rng.choice(['GET', 'POST'])} "
            f"path={rng.choice(_PATHS)} status={rng.choice([200, 200, 200, 401, 404])} "
            f"duration_ms={rng.uniform(0.3, 40):.1f}"
        )

    def nginx() -> str:
        return (
            f"127.0.0.1 - - [23/Nov/2026:12:{rng.randrange(60):02d}:{rng.randrange(60):02d} +0000] "
            f'"{rng.choice(["GET", "POST"])} {rng.choice(_PATHS)} HTTP/1.1" '
            f'{rng.choice([200, 301, 401, 404, 413])} {rng.randrange(20, 900)} "-" '
            f'"{rng.choice(_AGENTS)}" rid={hexid()} rt=0.00{rng.randrange(10)}'
        )

    def postgres() -> str:
        return rng.choice(
            [
                f"{stamp()} UTC [{rng.randrange(1000, 99999)}] LOG:  connection authorized: "
                f"user=stack database=stack application_name=psycopg",
                f"{stamp()} UTC [{rng.randrange(1000, 99999)}] LOG:  checkpoint complete: wrote "
                f"{rng.randrange(90)} buffers ({rng.uniform(0, 2):.1f}%); 0 WAL file(s) added",
                f"{stamp()} UTC [{rng.randrange(1000, 99999)}] FATAL:  password authentication "
                f'failed for user "stack"',
            ]
        )

    def redis() -> str:
        pid, milli = rng.randrange(1000, 99999), rng.randrange(1000)
        return f"{pid}:M 23 Nov 2026 12:00:00.{milli:03d} * DB saved on disk"

    def json_line() -> str:
        return json.dumps(
            {
                "ts": time.time(),
                "level": rng.choice(["info", "warning"]),
                "msg": rng.choice(
                    ["anime lookup", "cache miss", "link started", "token refreshed"]
                ),
                "user": hexid(16),
                "guild": hexid(16),
                "request_id": hexid(),
                "title": rng.choice(["Frieren", "Mushishi", "Cowboy Bebop", "Léon"]),
            },
            ensure_ascii=False,
        )

    def upstream() -> str:
        status = rng.choice(["200 OK", "200 OK", "429 Too Many Requests", "500 Server Error"])
        request = "HTTP Request: POST https://graphql.anilist.co"
        return f'{stamp()} INFO httpx {request} "HTTP/1.1 {status}"'

    def redacted() -> str:
        return (
            f"{stamp()} WARNING bot readiness: postgres unavailable (OperationalError) "
            "dsn=postgres://REDACTED_USERNAME:REDACTED_PASSWORD@127.0.0.1:"
            f"{rng.randrange(30000, 60000)}/stack "
            f"contact=ops{rng.randrange(99)}@example.org"
        )

    def traceback() -> str:
        return "\n".join(
            [
                f"{stamp()} ERROR access unhandled OperationalError on /bot/interactions",
                "Traceback (most recent call last):",
                '  File "/srv/stack/refstack/common/requestid.py", line 61, in __call__',
                "    await self.app(scope, receive, send_with_id)",
                '  File "/srv/venv/lib/python3.11/site-packages/psycopg/connection_async.py", '
                "line 135, in connect",
                "    raise last_ex.with_traceback(None)",
                "psycopg.OperationalError: connection failed: connection to server at "
                '"127.0.0.1", port 5432 failed: Connection refused',
            ]
        )

    return [app] * 40 + [nginx] * 30 + [postgres] * 8 + [redis] * 3 + [json_line] * 10 + [
        upstream
    ] * 5 + [redacted] * 3 + [traceback]  # fmt: skip


def make_corpus(size_mb: int, seed: int = SEED) -> bytes:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    makers = _corpus_lines(rng)
    lines: list[str] = []
    size, target = 0, size_mb * 1_000_000
    while size < target:
        line = rng.choice(makers)()
        lines.append(line)
        size += len(line.encode()) + 1
    return ("\n".join(lines) + "\n").encode()


def _leaks(canaries: dict[str, str], rng: random.Random) -> list[tuple[str, str]]:
    """(text to plant, label it must be found as): canaries in their encodings, credentials."""
    labels = list(canaries)
    shapes: list[Callable[[str], str]] = [
        lambda v: f"connecting to postgres://stack:{v}@127.0.0.1:5432/stack",  # raw (and url)
        lambda v: f"retry with token {quote(v, safe='')} in the query",
        lambda v: "Authorization: Basic " + base64.b64encode(f"stack:{v}".encode()).decode(),
        lambda v: f"bytea \\x{v.encode().hex()}",
        lambda v: json.dumps({"token": v}),
        lambda v: f"truncated value {v[: len(v) // 2 + 1]}...",
    ]
    planted = []
    for _ in range(PLANTED_CANARIES):
        label = rng.choice(labels)
        planted.append((rng.choice(shapes)(canaries[label]), label))
    credentials = [
        ("postgres://stack:hunter2-{n}@db.internal/stack", "url-password"),
        ("Authorization: Bearer {t}", "bearer-token"),
        ("host=db user=stack password=pw-{n}-x dbname=stack", "password-assignment"),
    ]
    for n in range(PLANTED_CREDENTIALS):
        text, name = credentials[n % len(credentials)]
        planted.append((text.format(n=n, t=secrets.token_urlsafe(24)), name))
    return planted


def plant(corpus: bytes, leaks: list[tuple[str, str]], rng: random.Random) -> bytes:
    lines = corpus.split(b"\n")
    for text, _ in leaks:
        lines.insert(
            rng.randrange(len(lines)), f"2026-11-23 12:00:00,000 ERROR bot {text}".encode()
        )
    return b"\n".join(lines)


def _throughput(label: str, size: int, scan: Callable[[], object], rounds: int) -> dict[str, Any]:
    seconds = []
    for _ in range(rounds):
        started = time.perf_counter()
        scan()
        seconds.append(time.perf_counter() - started)
    best, median = min(seconds), statistics.median(seconds)
    print(f"  {label}: median {size / median / 1e6:.0f} MB/s", flush=True)
    return {
        "median_mb_s": round(size / median / 1e6, 1),
        "best_mb_s": round(size / best / 1e6, 1),
        "median_s": round(median, 4),
    }


def _baselines(scanner: SinkScanner, data: bytes) -> dict[str, float]:
    """The obvious pure-Python ways, on a slice, for scale."""
    piece = data[: BASELINE_SLICE_MB * 1_000_000]
    needles = list(scanner._needles)
    alternation = re.compile(
        b"|".join(re.escape(n) for n in sorted(needles, key=len, reverse=True))
    )
    found: dict[str, float] = {}
    for name, scan in (
        ("bytes.find per needle (canaries only)", lambda: [piece.find(n) for n in needles]),
        ("re alternation (canaries only)", lambda: alternation.findall(piece)),
    ):
        started = time.perf_counter()
        scan()
        found[name] = round(len(piece) / (time.perf_counter() - started) / 1e6, 1)
    return found


def run(root: Path, out: Path) -> dict[str, Any]:
    rng = random.Random(SEED)  # noqa: S311 - where leaks go, not secrets
    canaries = {f"canary.{n:02d}": secrets.token_urlsafe(24) for n in range(CANARIES)}
    scanner = SinkScanner(canaries)
    leaks = _leaks(canaries, rng)
    print(f"  generating {CORPUS_MB} MB of logs", flush=True)
    clean = make_corpus(CORPUS_MB)
    dirty = plant(clean, leaks, rng)

    findings = scanner.scan(dirty, "bench.log")
    expected: dict[str, int] = {}
    for _, label in leaks:
        expected[label] = expected.get(label, 0) + 1
    seen: dict[str, int] = {}
    for finding in findings:
        seen[finding.label] = seen.get(finding.label, 0) + 1
    missed = {k: v - seen.get(k, 0) for k, v in expected.items() if seen.get(k, 0) < v}
    # A canary planted in a URL or in basic credentials is also a credential: expected too.
    unexpected = {k: v for k, v in seen.items() if k not in {*expected, "basic-auth"}}
    shown = "\n".join(f.describe() for f in findings)
    secret_in_findings = any(value in shown for value in canaries.values())
    false_positives_clean = len(scanner.scan(clean, "clean.log"))

    figures: dict[str, Any] = {"corpus_mb": round(len(dirty) / 1e6, 1)}
    figures["in_memory"] = _throughput(
        "in memory", len(dirty), lambda: scanner.scan(dirty, "x"), ROUNDS
    )
    with tempfile.TemporaryDirectory(prefix="stackproof-bench-scan-") as folder:
        path = Path(folder) / "bench.log"
        path.write_bytes(dirty)
        figures["from_file"] = _throughput(
            "from a file", len(dirty), lambda: scanner.scan_file(path), ROUNDS
        )
    figures["baselines_mb_s"] = _baselines(scanner, clean)
    meets = figures["in_memory"]["median_mb_s"] >= OBJECTIVE_MB_S and (
        figures["from_file"]["median_mb_s"] >= OBJECTIVE_MB_S
    )
    correct = not missed and not unexpected and not secret_in_findings
    document: dict[str, Any] = {
        "bench": "scan",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "objective": {"throughput_mb_s": OBJECTIVE_MB_S},
        "config": {
            "canaries": CANARIES,
            "needles": scanner.needle_count,
            "credential_patterns": len(scanner.patterns),
            "planted_canaries": PLANTED_CANARIES,
            "planted_credentials": PLANTED_CREDENTIALS,
            "rounds": ROUNDS,
        },
        "figures": figures,
        "correctness": {
            "findings": len(findings),
            "expected_at_least": expected,
            "missed": missed,
            "unexpected": unexpected,
            "secret_in_findings": secret_in_findings,
            "findings_in_clean_logs": false_positives_clean,
        },
        "meets": {"throughput_mb_s": meets, "finds_every_planted_leak": correct},
        "passed": meets and correct,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "scan.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    (out / "scan.md").write_text(_markdown(document), "utf-8")
    return document


def _markdown(document: dict[str, Any]) -> str:
    figures, config, correct = document["figures"], document["config"], document["correctness"]
    lines = [
        "# Sink scanning speed",
        "",
        f"Machine: {document['machine']['cpus']} CPUs, Python {document['machine']['python']}. "
        f"Corpus: {figures['corpus_mb']} MB of generated reference-stack logs with "
        f"{config['planted_canaries']} planted canaries ({config['canaries']} canaries, "
        f"{config['needles']} needles with their encodings) and {config['planted_credentials']} "
        f"planted credentials; {config['credential_patterns']} credential patterns.",
        "",
        "| how | median MB/s | best MB/s | objective |",
        "| --- | ---: | ---: | --- |",
        *(
            f"| {how} | {figures[key]['median_mb_s']} | {figures[key]['best_mb_s']} "
            f"| >= {OBJECTIVE_MB_S:g} |"
            for how, key in (("in memory", "in_memory"), ("from a file", "from_file"))
        ),
    ]
    lines += [
        f"| {name}, for scale | {value} | | |" for name, value in figures["baselines_mb_s"].items()
    ]
    lines += [
        "",
        f"Findings: {correct['findings']}; missed: {correct['missed'] or 'none'}; unexpected: "
        f"{correct['unexpected'] or 'none'}; a secret in the findings: "
        f"{'YES' if correct['secret_in_findings'] else 'no'}; findings in the same logs "
        f"without plants: {correct['findings_in_clean_logs']}.",
        "",
        f"Objective met: {'yes' if document['passed'] else '**no**'}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    result = run(Path.cwd(), Path.cwd() / "reports" / "bench")
    print(json.dumps(result["figures"], indent=2))
    sys.exit(0 if result["passed"] else 1)
