#!/usr/bin/env python3
"""Uptime monitor: probe a health URL once, alert a webhook only when the state changes.

Run it from cron (`*/5 * * * * python3 /opt/stack/ops/uptime_monitor.py --url ...`): each
run makes one probe, compares it with the state the last run left in `--state-file`, and
posts to ALERT_WEBHOOK_URL (Discord's "Execute Webhook"; Slack-compatible URLs take the same
`content`) only on a transition, UP->DOWN or DOWN->UP (R-HLT-7). While a service stays down,
later runs stay quiet. A first run that finds the service down alerts; one that finds it up
does not. If an alert cannot be delivered, the state is left as it was, so the next run
tries the alert again rather than losing it.

UP means the URL answered 200 within --timeout seconds; anything else is DOWN.
Exit status: 0 after a probe (whatever it found), 2 on bad usage. Standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE = Path("/var/lib/uptime-monitor/state.json")
USER_AGENT = "refstack-uptime-monitor/1"


@dataclass(frozen=True, slots=True)
class Probe:
    up: bool
    detail: str  # "200 in 0.05 s", "503", "timed out after 10 s", ...


class _PinnedHTTPS(http.client.HTTPSConnection):
    """Connects to `connect_to` while the URL's host name stays in SNI, the certificate
    check and the Host header, as curl's --connect-to does."""

    connect_to: tuple[str, int] = ("", 0)

    def connect(self) -> None:
        sock = socket.create_connection(self.connect_to, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _opener(
    context: ssl.SSLContext | None, connect_to: str | None
) -> urllib.request.OpenerDirector:
    if connect_to is None:
        return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    host, _, port = connect_to.rpartition(":")
    pinned = type("Pinned", (_PinnedHTTPS,), {"connect_to": (host.strip("[]"), int(port))})

    class Handler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(pinned, req, context=context)  # type: ignore[arg-type]

    return urllib.request.build_opener(Handler())


def probe(
    url: str, timeout_s: float, context: ssl.SSLContext | None, connect_to: str | None = None
) -> Probe:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310 - http(s) checked in main
    started = time.monotonic()
    try:
        with _opener(context, connect_to).open(request, timeout=timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        return Probe(False, f"answered {error.code}")
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return Probe(False, f"no answer ({type(reason).__name__})")
    took = time.monotonic() - started
    return Probe(status == 200, f"answered {status} in {took:.2f} s")


def read_state(path: Path) -> str | None:
    try:
        state = json.loads(path.read_text("utf-8")).get("state")
    except (OSError, ValueError, AttributeError):
        return None
    return state if state in ("UP", "DOWN") else None


def write_state(path: Path, state: str, detail: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    record = {"state": state, "detail": detail, "at": dt.datetime.now(dt.UTC).isoformat()}
    staging.write_text(json.dumps(record) + "\n", "utf-8")
    staging.replace(path)  # atomic: a crash never leaves half a state file


def alert(webhook: str, content: str, timeout_s: float) -> bool:
    body = json.dumps({"content": content, "allowed_mentions": {"parse": []}}).encode()
    request = urllib.request.Request(  # noqa: S310 - http(s) checked in main
        webhook,
        data=body,
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - http(s) checked in main
            delivered: bool = 200 <= response.status < 300
            return delivered
    except (urllib.error.URLError, OSError) as error:
        print(f"uptime-monitor: alert not delivered ({type(error).__name__})", file=sys.stderr)
        return False


def web_url(text: str) -> str:
    """Only http(s): urllib would also open file: and ftp: URLs."""
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"not an http(s) URL: {text[:40]!r}")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, type=web_url, help="the health URL to probe")
    parser.add_argument("--name", help="what to call it in alerts (default: the URL)")
    parser.add_argument("--state-file", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("--ca-file", help="CA bundle to trust instead of the system store")
    parser.add_argument(
        "--connect",
        metavar="ADDRESS:PORT",
        help="connect here for an https URL, keeping its "
        "host name for TLS and Host (a front behind a forward, as curl's --connect-to)",
    )
    args = parser.parse_args(argv)
    context = ssl.create_default_context(cafile=args.ca_file) if args.ca_file else None
    name = args.name or args.url
    previous = read_state(args.state_file) or "UP"
    found = probe(args.url, args.timeout, context, args.connect)
    state = "UP" if found.up else "DOWN"
    print(f"uptime-monitor: {name} {state} ({found.detail})")
    if state == previous:
        write_state(args.state_file, state, found.detail)
        return 0
    webhook = os.environ.get("ALERT_WEBHOOK_URL", "").strip()
    if webhook and not webhook.startswith(("http://", "https://")):
        print("uptime-monitor: ALERT_WEBHOOK_URL is not an http(s) URL", file=sys.stderr)
        return 2
    if not webhook:
        print("uptime-monitor: ALERT_WEBHOOK_URL is not set; the transition is only logged")
        write_state(args.state_file, state, found.detail)
        return 0
    content = (
        f"DOWN: {name} is down ({found.detail})"
        if state == "DOWN"
        else f"UP: {name} is back up ({found.detail})"
    )
    if alert(webhook, content, args.timeout):
        write_state(args.state_file, state, found.detail)
    return 0


if __name__ == "__main__":
    sys.exit(main())
