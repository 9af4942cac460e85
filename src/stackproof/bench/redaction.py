"""What redaction costs the services, which run it on every log record and Sentry event.

Measures, in microseconds (median of repeated timings):

- `redact_url_credentials` on log lines: without an `@` (most lines: one substring test),
  with an e-mail address, with a URL with credentials, and on a 4 kB traceback;
- the service's Scrubber (URL credentials and Discord ID hashing) on a whole Sentry event
  as sentry-sdk hands it to `before_send` (an exception with 20 frames and their local
  variables, 100 breadcrumbs, request, contexts, extra);
- a log record made with the redacting record factory, beside one made without;
- sentry-sdk capturing an exception with and without the hooks (the SDK's own cost, for
  scale; its transport drops the envelope, so no network is involved).

No objective is named for these. What matters is the cost beside what the SDK itself spends
on an event, which walks and serialises the same structure. Figures go to
`reports/bench/redaction.{json,md}`.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import os
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

DSN = "postgres://stack:Zk3pQ9vT2mX7wR4yB8nL@127.0.0.1:5432/stack"
USER_ID = 123456789012345678
LINES = {
    "log line without @": "2026-11-23 12:00:00,123 INFO bot request_id=4bf92f3577b34da6a3ce929d0e0e"
    "4736 method=POST path=/interactions status=200 duration_ms=3.1",
    "log line with an e-mail": "2026-11-23 12:00:00,123 INFO auth link requested by "
    "someone@example.org from 127.0.0.1",
    "log line with a DSN": f"2026-11-23 12:00:00,123 WARNING bot retrying {DSN} (attempt 2)",
}


def _traceback() -> str:
    frames = "".join(
        f'  File "/srv/venv/lib/python3.11/site-packages/lib{n}.py", line {n * 7}, in call\n'
        f"    result = await self.inner(request, timeout={n})\n"
        for n in range(30)
    )
    return f"Traceback (most recent call last):\n{frames}OperationalError: connect {DSN} refused"


def sentry_event() -> dict[str, Any]:
    """An error event as sentry-sdk builds it (serialised, before `before_send`)."""
    frames = [
        {
            "filename": f"refstack/module{n}.py",
            "function": f"handler{n}",
            "lineno": n * 3,
            "context_line": "    await connection.execute(query, params)",
            "pre_context": ["", "async def handler(request):", "    query = build()"],
            "post_context": ["    return result", ""],
            "vars": {f"var{v}": f"'value {v} of frame {n}'" for v in range(10)}
            | {"url": f"'{DSN}'", "user_id": str(USER_ID)},
            "in_app": True,
        }
        for n in range(20)
    ]
    crumbs = [
        {
            "category": "httplib",
            "message": f"GET https://graphql.anilist.co/{n}",
            "data": {"status_code": 200, "url": "https://graphql.anilist.co"},
            "level": "info",
            "timestamp": "2026-11-23T12:00:00.000000Z",
        }
        for n in range(100)
    ]
    return {
        "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
        "level": "error",
        "exception": {
            "values": [
                {
                    "type": "OperationalError",
                    "value": f"connect {DSN}",
                    "stacktrace": {"frames": frames},
                }
            ]
        },
        "breadcrumbs": {"values": crumbs},
        "request": {"url": "https://bot/interactions", "method": "POST", "headers": {"a": "b"}},
        "contexts": {
            "runtime": {"name": "CPython", "version": "3.11.7"},
            "trace": {"span_id": "1"},
        },
        "extra": {"sys.argv": ["uvicorn", "refstack.bot.app:app"], "guild": USER_ID},
        "user": {"id": USER_ID},
        "tags": {"service": "bot"},
    }


def _microseconds(call: Callable[[], object], number: int, repeat: int = 7) -> float:
    timings = timeit.repeat(call, number=number, repeat=repeat)
    return round(statistics.median(timings) / number * 1e6, 2)


def run(root: Path, out: Path) -> dict[str, Any]:
    # The reference stack is not an installed package; its services run from `stack/`.
    sys.path.insert(0, str(root / "stack"))
    from refstack.common.redaction import (  # noqa: PLC0415 - after the path is set
        Scrubber,
        install_log_redaction,
        redact_url_credentials,
    )
    from refstack.common.userhash import UserIdHasher  # noqa: PLC0415

    scrubber = Scrubber(redact_url_credentials, UserIdHasher("bench-salt-0001").hash_snowflakes)
    figures: dict[str, float] = {}
    for name, line in [*LINES.items(), ("4 kB traceback with a DSN", _traceback())]:
        figures[f"redact_url_credentials: {name} (µs)"] = _microseconds(
            functools.partial(redact_url_credentials, line), 20_000
        )
        figures[f"scrubber: {name} (µs)"] = _microseconds(
            functools.partial(scrubber.text, line), 5_000
        )
    event = sentry_event()
    strings = len(json.dumps(event))
    copying = _microseconds(lambda: copy.deepcopy(event), 100)
    figures["scrubber: sentry event (µs)"] = round(
        _microseconds(lambda: scrubber.before_send(copy.deepcopy(event), {}), 100) - copying, 2
    )
    figures.update(_log_records(scrubber, install_log_redaction))
    figures.update(_sdk_capture(scrubber))
    document: dict[str, Any] = {
        "bench": "redaction",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "event_json_bytes": strings,
        "figures": figures,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "redaction.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    lines = [
        "# What redaction costs the services",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}. The Sentry event is "
        f"{strings} bytes of JSON (20 frames with local variables, 100 breadcrumbs).",
        "",
        "| what | µs |",
        "| --- | ---: |",
        *(f"| {name.removesuffix(' (µs)')} | {value:.2f} |" for name, value in figures.items()),
        "",
    ]
    (out / "redaction.md").write_text("\n".join(lines), "utf-8")
    return document


def _log_records(scrubber: Any, install: Callable[[Any], Callable[[], None]]) -> dict[str, float]:
    """A typical record and a worst one (a DSN and a user ID), made without and with the
    redacting record factory (formatted by nothing: a NullHandler)."""
    logger = logging.getLogger("stackproof.bench.redaction")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    logger.setLevel(logging.INFO)
    records = {
        "typical": lambda: logger.info("method=%s path=%s status=%d", "POST", "/interactions", 200),
        "with a DSN and a user ID": lambda: logger.info("connect %s for %s", DSN, USER_ID),
    }
    found = {name: _microseconds(log, 20_000) for name, log in records.items()}
    restore = install(scrubber)
    try:
        redacted = {name: _microseconds(log, 20_000) for name, log in records.items()}
    finally:
        restore()
    return {
        f"log record, {name}, {how} (µs)": value
        for how, figures in (("plain", found), ("redacted", redacted))
        for name, value in figures.items()
    }


def _deep_failure(depth: int, url: str) -> None:
    """Fail 20 frames down, each frame holding ten local variables and the DSN."""
    a, b, c, d, e = f"value a{depth}", depth, [depth] * 3, {"k": depth}, url  # noqa: F841
    f, g, h, i, j = "x" * 40, depth * 1.5, None, (depth,), USER_ID  # noqa: F841
    if depth == 0:
        raise ConnectionError(f"connect {url}")
    _deep_failure(depth - 1, url)


def _sdk_capture(scrubber: Any) -> dict[str, float]:
    """sentry-sdk capturing an error 20 frames deep with 100 breadcrumbs, with and without
    the hooks: the SDK's own cost, and what the hooks add to it."""
    import sentry_sdk  # noqa: PLC0415 - only these figures need it

    def capture() -> None:
        try:
            _deep_failure(19, DSN)
        except ConnectionError:
            sentry_sdk.capture_exception()

    found = {}
    for label, options in (("without hooks", {}), ("with hooks", scrubber.sentry_options())):
        sentry_sdk.init(
            dsn="http://public@127.0.0.1:9/1",
            transport=lambda envelope: None,  # dropped: no network, no worker thread
            default_integrations=False,
            **options,
        )
        for n in range(100):
            sentry_sdk.add_breadcrumb(category="httplib", message=f"GET https://anilist.co/{n}")
        found[f"sentry-sdk capture_exception, {label} (µs)"] = _microseconds(capture, 50)
    sentry_sdk.init()  # no DSN: the client is disabled again
    return found


if __name__ == "__main__":
    result = run(Path.cwd(), Path.cwd() / "reports" / "bench")
    print(json.dumps(result["figures"], indent=2, ensure_ascii=False))
