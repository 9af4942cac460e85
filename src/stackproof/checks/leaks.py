"""What the redaction suite collects from a stack and how it judges it (R-RED-1..4).

Every value of the run's SecretRegistry is a canary (database and cache passwords, profile
secrets, tokens other suites plant), plus the raw Discord IDs and interaction tokens a test
sends. `Sinks` gathers what the stack emitted — each service's log, every answer the test
received, every Sentry envelope, a `pg_dump` — and `SinkScanner` finds canaries in any
encoding and anything shaped like a credential.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from stackproof.checks.sinks import MIN_NEEDLE_BYTES, Canary, Finding, SinkScanner
from stackproof.run import SecretRegistry

# Report files written at the end of a run (results.json, junit.xml, report.html).
REPORT_FILES: Final = ("results.json", "junit.xml", "report.html")
# What an exception's text looks like in an answer, by kind: each finding names the kind and
# quotes the words that leaked.
LEAKED_TEXT: Final = {
    "a traceback": re.compile(r'Traceback \(most recent call last\)|File "[^"\n]+", line \d+'),
    "an errno string": re.compile(r"\[Errno -?\d+\][^\n\"]{0,60}"),
    "a driver's or server's message": re.compile(
        r'password authentication failed for user "?[^\s"]*"?'
        r"|connection to server (?:at|on) [^,\n]{0,60}(?:, port \d+)? failed"
        r"|could not connect to server|server closed the connection unexpectedly"
        r"|no pg_hba\.conf entry[^\n]{0,60}|Error -?\d+ connecting to \S+"
        r"|Connection refused|Connection reset by peer|Name or service not known"
        r"|timeout expired|(?:FATAL|PANIC):\s+[^\n]{1,80}",
        re.IGNORECASE,
    ),
    "an exception class name": re.compile(
        r"\b(?:[a-z_][a-z0-9_]*\.)*[A-Z][A-Za-z0-9]*(?:Error|Exception|Timeout|Refused)\b"
    ),
    "a library's module name": re.compile(
        r"\b(?:psycopg2?|asyncpg|sqlalchemy|redis\.exceptions|httpx|httpcore|starlette|uvicorn)\b"
    ),
    "a connection string": re.compile(r'\b[a-z][a-z0-9+.\-]*://[^\s"]{1,80}'),
    "a host and port": re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}:\d{2,5}\b|\blocalhost:\d{2,5}\b"),
}
MAX_GENERIC_MESSAGE = 80
URL_REDACTED: Final = re.compile(
    r"[a-z][a-z0-9+.\-]*://(?:REDACTED_USERNAME:REDACTED_PASSWORD|:REDACTED_PASSWORD)@"
)


def discord_id() -> str:
    """A fresh 18-digit snowflake-shaped ID: unique per run, so any sighting is a leak."""
    return str(10**17 + secrets.randbelow(9 * 10**17))


def run_canaries(registry: SecretRegistry) -> list[Canary]:
    """Every secret the run registered, long enough to be told apart from ordinary text."""
    return [
        Canary(label, value)
        for label, value in registry.items()
        if len(value.encode()) >= MIN_NEEDLE_BYTES
    ]


@dataclass
class Sinks:
    """Named byte strings a stack emitted, to be scanned together."""

    items: dict[str, bytes] = field(default_factory=dict)

    def add(self, name: str, data: bytes | str) -> None:
        self.items[name] = data.encode() if isinstance(data, str) else data

    def scan(self, scanner: SinkScanner) -> list[Finding]:
        return scanner.scan_many(self.items.items())

    def text(self, prefix: str) -> str:
        """Every sink whose name starts with `prefix`, as one text."""
        return "\n".join(
            data.decode("utf-8", "replace")
            for name, data in self.items.items()
            if name.startswith(prefix)
        )


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    """A 4xx/5xx answer a service gave, as the redaction suite received it."""

    request: str  # "POST /bot/canary"
    status: int
    body: str
    request_id_header: str | None

    def problems(self) -> list[str]:
        """Why this answer is not a generic error answer with its request ID (R-RED-4): its
        shape, then every exception text it leaked, named by kind and quoted."""
        where = f"{self.request} → {self.status}"
        found = [f"{where}: {problem}" for problem in self._shape_problems()]
        found += [
            f"{where}: the body leaks exception text, {kind}: {text!r}"
            for kind, text in leaked_texts(self.body)
        ]
        return found

    def _shape_problems(self) -> list[str]:
        try:
            document = json.loads(self.body)
        except ValueError:
            return ["the body is not JSON"]
        if not isinstance(document, dict) or set(document) != {"error", "request_id"}:
            keys = sorted(document) if isinstance(document, dict) else type(document).__name__
            return [f"expected {{error, request_id}}, got {keys}"]
        found = []
        message = document["error"]
        if not isinstance(message, str) or len(message) > MAX_GENERIC_MESSAGE:
            found.append("the error is not a short message")
        if not document["request_id"] or document["request_id"] != self.request_id_header:
            found.append(
                f"request_id {document['request_id']!r} is not "
                f"the X-Request-ID header {self.request_id_header!r}"
            )
        return found


def _texts(body: str) -> list[str]:
    """The body, and each string inside it when it is JSON (so escaped quotes read plainly)."""
    try:
        document = json.loads(body)
    except ValueError:
        return [body]
    strings: list[str] = []
    pending: list[Any] = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            pending.extend([*value.keys(), *value.values()])
        elif isinstance(value, list):
            pending.extend(value)
    return strings or [body]


def leaked_texts(body: str) -> list[tuple[str, str]]:
    """(kind, words) of every exception text in `body`, each distinct passage once."""
    found: dict[tuple[str, str], None] = {}
    for text in _texts(body):
        for kind, pattern in LEAKED_TEXT.items():
            for match in pattern.finditer(text):
                found[(kind, match.group().strip()[:100])] = None
    return list(found)


def redacted_urls(text: str) -> list[str]:
    """The URLs in `text` whose credentials were replaced as R-RED-1 shows."""
    return URL_REDACTED.findall(text)


def event_users(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """The `user.id` of each event that has one."""
    users = []
    for event in events:
        user = event.get("user")
        if isinstance(user, dict) and user.get("id") is not None:
            users.append(str(user["id"]))
    return users


def scan_reports(run_dir: Path, registry: SecretRegistry) -> list[Finding]:
    """Canaries in the report files of a finished run (the writer scrubs exact values; this
    also finds encoded ones)."""
    canaries = run_canaries(registry)
    if not canaries:
        return []
    scanner = SinkScanner(canaries)
    return [
        finding
        for name in REPORT_FILES
        if (run_dir / name).is_file()
        for finding in scanner.scan_file(run_dir / name, name)
        if finding.kind == "canary"
    ]
