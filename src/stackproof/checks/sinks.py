"""Find leaked secrets in what a stack emitted: logs, HTTP bodies, Sentry events, database
dumps, report files (R-RED-3).

Two kinds of finding:

- **canary**: a secret the run planted, found as written or as a leak actually carries it:
  percent-encoded (in a URL or a form, hex digits in either case, or encoded twice),
  JSON-escaped (also with `\\/`), HTML-escaped (a report page), Python-repr-escaped (a
  traceback), base64 and base64url at each of the three byte alignments (so inside a longer
  encoded text, such as `Authorization: Basic` of `user:secret`), hex (a `bytea` column in a
  `pg_dump`, `bytes.hex()`), and cut in half (a truncated event, a wrapped line, a mask
  that shows too much; not for all-digit values, whose halves are ordinary numbers);
- **credential**: anything shaped like a credential, planted or not: a URL with a password
  (also percent-encoded inside another URL), a bearer token, HTTP basic credentials, an
  `X-API-Key`/`api_key`/`client_secret` or `password` assignment, a private key block, a JWT,
  a Discord bot token, AWS, GitHub, Slack and Sentry tokens. Redacted or placeholder values
  (`REDACTED_PASSWORD`, `***`, `[REDACTED]`, `%s`, ...) are not findings.

A finding says where (sink, line, byte offset), what (the canary's label or the pattern's
name) and how it was encoded, with a short excerpt in which every secret is masked: it never
carries the secret. All patterns run in a single pass of RE2 (linear time, no backtracking)
over bytes; a file is mapped into memory, not read, so its size does not matter.
"""

from __future__ import annotations

import base64
import html
import json
import mmap
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, quote_plus

import re2  # google-re2

MIN_NEEDLE_BYTES: Final = 8  # shorter encodings would match ordinary text
MIN_HALF_BYTES: Final = 12  # a canary is also looked for by halves when they are this long
MAX_PATTERN_BYTES: Final = 4096  # how far past a canary a credential overlapping it may end
CONTEXT_BYTES: Final = 40
_TOKEN_CHARS: Final = rb"A-Za-z0-9+/=_\-.%~"
_LONG_TOKEN: Final = re.compile(rb"[" + _TOKEN_CHARS + rb"]{16,}")
_TOKEN_BYTE: Final = re.compile(rb"[" + _TOKEN_CHARS + rb"]")
_LEADING_TOKEN: Final = re.compile(rb"^[" + _TOKEN_CHARS + rb"]+")
_TRAILING_TOKEN: Final = re.compile(rb"[" + _TOKEN_CHARS + rb"]+$")
PLACEHOLDERS: Final = frozenset(
    {
        "redacted",
        "redacted_password",
        "redacted_username",
        "[redacted]",
        "<redacted>",
        "null",
        "none",
        "true",
        "false",
        "undefined",
        "%s",
        "%r",
        "{}",
        "changeme",
        "password",
        "secret",
    }
)


@dataclass(frozen=True, slots=True)
class Canary:
    """A planted secret: a label to report, and the value (never shown)."""

    label: str
    value: str = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.value.encode()) < MIN_NEEDLE_BYTES:
            raise ValueError(
                f"canary {self.label!r} is shorter than {MIN_NEEDLE_BYTES} bytes: it would "
                "match ordinary text; plant a longer one"
            )


@dataclass(frozen=True, slots=True)
class CredentialPattern:
    """Something shaped like a credential. `secret` picks the part that must not be a
    placeholder (a function of the matched text; None means the whole match)."""

    name: str
    regex: bytes
    secret: Any = None  # Callable[[bytes], bytes] | None; Any keeps the dataclass hashable


@dataclass(frozen=True, slots=True)
class Finding:
    """A secret seen in a sink. Carries no secret: `excerpt` has every one masked."""

    sink: str
    kind: str  # "canary" or "credential"
    label: str  # the canary's label, or the credential pattern's name
    encoding: str  # how the canary was written ("raw", "base64", ...); "pattern" otherwise
    offset: int  # bytes from the start of the sink
    line: int  # 1-based
    excerpt: str

    @property
    def location(self) -> str:
        return f"{self.sink}:{self.line}"

    def describe(self) -> str:
        what = f"canary {self.label} ({self.encoding})" if self.kind == "canary" else self.label
        return f"{self.location} (byte {self.offset}): {what}: {self.excerpt}"

    def to_json(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "kind": self.kind,
            "label": self.label,
            "encoding": self.encoding,
            "offset": self.offset,
            "line": self.line,
            "excerpt": self.excerpt,
        }


# -- what a leaked canary looks like ---------------------------------------------------------


def encodings_of(value: str) -> dict[bytes, str]:
    """Every byte string a leak of `value` may show, with the name of its encoding."""
    raw = value.encode()
    forms: dict[bytes, str] = {}

    def add(needle: bytes | str, name: str) -> None:
        data = needle.encode() if isinstance(needle, str) else needle
        if len(data) >= MIN_NEEDLE_BYTES:
            forms.setdefault(data, name)

    add(raw, "raw")
    add(quote(value, safe=""), "url")
    add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quote(value, safe="")), "url")
    add(quote_plus(value, safe=""), "form")
    add(quote(quote(value, safe=""), safe=""), "url-twice")
    escaped = json.dumps(value)[1:-1]
    add(escaped, "json")
    add(json.dumps(value, ensure_ascii=False)[1:-1], "json")
    add(escaped.replace("/", "\\/"), "json")
    add(html.escape(value), "html")
    add(value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        .replace('"', "&#34;").replace("'", "&#39;"), "html")  # fmt: skip
    add(repr(value)[1:-1], "repr")
    for alignment in range(3):
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            add(_aligned_base64(raw, alignment, encode), name)
    add(raw.hex(), "hex")
    add(raw.hex().upper(), "hex")
    if len(raw) >= 2 * MIN_HALF_BYTES and not value.isdigit():
        half = len(value) // 2
        add(value[: len(value) - half], "first half")
        add(value[half:], "second half")
    return forms


def _aligned_base64(raw: bytes, alignment: int, encode: Any) -> bytes:
    """The base64 characters fixed by `raw` alone when it starts `alignment` bytes into a
    3-byte group of a longer encoded text."""
    encoded: bytes = encode(b"\0" * alignment + raw + b"\0\0")
    first = -(-8 * alignment // 6)  # the first character whose 6 bits are all in `raw`
    last = 8 * (alignment + len(raw)) // 6  # one past the last such character
    return encoded[first:last]


# -- what a credential looks like ------------------------------------------------------------


def _after_last_colon(match: bytes) -> bytes:
    userinfo = match.split(b"//", 1)[-1].rstrip(b"@")
    return userinfo.partition(b":")[2]


def _value_of_assignment(match: bytes) -> bytes:
    return re.split(rb"[:=]\s*[\"']?", match, maxsplit=1)[-1]


def _last_word(match: bytes) -> bytes:
    return match.split()[-1]


CREDENTIAL_PATTERNS: Final = (
    CredentialPattern(
        "url-password",
        rb"[A-Za-z][A-Za-z0-9+.\-]*:(?://|\\/\\/)[^\s/?#@\"'<>\\]*:[^\s/?#@\"'<>\\]+@",
        _after_last_colon,
    ),
    CredentialPattern(
        "url-password-encoded",
        rb"(?i)%3A%2F%2F[^\s&\"'<>]+?%3A[^\s&\"'<>]+?%40",
        lambda m: re.split(rb"(?i)%3A", m)[-1][:-3],
    ),
    CredentialPattern("bearer-token", rb"\b[Bb]earer\s+[A-Za-z0-9\-._~+/]{16,}=*", _last_word),
    CredentialPattern(
        "basic-auth",
        rb"(?i)authorization[\"']?\s*[:=]\s*[\"']?basic\s+[A-Za-z0-9+/]{8,}=*",
        _last_word,
    ),
    CredentialPattern(
        "key-assignment",
        rb"(?i)\b(?:x-api-key|api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token"
        rb"|client[_-]?secret|secret[_-]?key|bot[_-]?token)[\"']?\s*[:=]\s*[\"']?[^\s\"',;&]{8,}",
        _value_of_assignment,
    ),
    CredentialPattern(
        "password-assignment",
        rb"(?i)\b(?:password|passwd|db_pass)[\"']?\s*[:=]\s*[\"']?[^\s\"',;&]{4,}",
        _value_of_assignment,
    ),
    CredentialPattern("private-key", rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
    CredentialPattern(
        "jwt", rb"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    ),
    CredentialPattern(
        "discord-bot-token",
        rb"\b[MNO][A-Za-z0-9_\-]{23,27}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,40}\b",
    ),
    CredentialPattern("aws-access-key", rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    CredentialPattern(
        "github-token", rb"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"
    ),
    CredentialPattern("slack-token", rb"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    CredentialPattern("sentry-auth-token", rb"\bsntry[su]_[A-Za-z0-9+/=_\-]{20,}"),
)


def _is_placeholder(secret: bytes) -> bool:
    text = secret.decode("latin-1").strip("\"'").lower()
    return (
        text in PLACEHOLDERS
        or text.startswith(("[secret:", "redacted", "<", "${", "{{"))
        or set(text) <= set("*x•.")
    )


# -- the scanner -----------------------------------------------------------------------------


Match = tuple[int, int, str, str, str]  # start, end, kind, label, encoding
_NOTHING: Final = rb"[^\x00-\xff]"  # matches no byte
# The credentials of a URL as the services' redaction leaves them: nothing to look at.
_FULLY_REDACTED: Final = (b"/REDACTED_USERNAME:REDACTED_PASSWORD@", b"/:REDACTED_PASSWORD@")


def _compile(alternatives: Sequence[bytes]) -> Any:
    options = re2.Options()
    options.encoding = re2.Options.Encoding.LATIN1  # bytes in, any bytes: dumps, gzip, ...
    options.max_mem = 64 << 20  # room for the DFA of hundreds of needles
    options.log_errors = False  # errors are raised, not also printed
    options.never_capture = True  # spans only: the DFA alone finds them
    return re2.compile(b"|".join(b"(?:" + a + b")" for a in alternatives), options)


class SinkScanner:
    """Scans sinks for canaries (their encodings) and credential patterns in one pass."""

    def __init__(
        self,
        canaries: Mapping[str, str] | Iterable[Canary],
        patterns: Sequence[CredentialPattern] = CREDENTIAL_PATTERNS,
    ) -> None:
        if isinstance(canaries, Mapping):
            canaries = [Canary(label, value) for label, value in canaries.items()]
        self.canaries = tuple(canaries)
        self.patterns = tuple(patterns)
        self._needles: dict[bytes, tuple[str, str]] = {}
        for canary in self.canaries:
            for needle, encoding in encodings_of(canary.value).items():
                self._needles.setdefault(needle, (canary.label, encoding))
        # Longest first: where a canary and its half both match, the canary wins.
        needles = b"|".join(re.escape(n) for n in sorted(self._needles, key=len, reverse=True))
        shapes = [p.regex for p in self.patterns]
        if not needles and not shapes:
            raise ValueError("nothing to look for: no canary and no credential pattern")
        self._everything = _compile([needles, *shapes] if needles else shapes)
        self._canaries_only = _compile([needles]) if needles else None
        self._patterns_only = _compile(shapes or [_NOTHING])
        self._pattern_regexes = [re.compile(p.regex) for p in self.patterns]
        self._reach = MAX_PATTERN_BYTES  # how far past a canary an overlapping credential may go

    @property
    def needle_count(self) -> int:
        return len(self._needles)

    # -- entry points --------------------------------------------------------------------------

    def scan(self, data: bytes | str, sink: str) -> list[Finding]:
        """Scan one sink held in memory (a response body, a log excerpt, an event)."""
        return self._scan(data.encode() if isinstance(data, str) else data, sink)

    def scan_json(self, document: Any, sink: str) -> list[Finding]:
        """Scan a JSON-able document (a Sentry event) as it would be serialised."""
        return self.scan(json.dumps(document, ensure_ascii=False, default=str), sink)

    def scan_file(self, path: Path, sink: str | None = None) -> list[Finding]:
        """Scan a file of any size (mapped, not read, into memory); the sink is its path."""
        with path.open("rb") as stream:
            try:
                mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
            except (ValueError, OSError):  # empty, or not a regular file
                return self._scan(stream.read(), sink or str(path))
            with mapped:
                return self._scan(mapped, sink or str(path))

    def scan_tree(self, root: Path, pattern: str = "**/*") -> list[Finding]:
        """Scan every file under `root` matching `pattern` (a report folder, a log folder)."""
        findings: list[Finding] = []
        for path in sorted(p for p in root.glob(pattern) if p.is_file() and not p.is_symlink()):
            findings += self.scan_file(path, str(path.relative_to(root.parent)))
        return findings

    def scan_many(self, sinks: Iterable[tuple[str, bytes | str]]) -> list[Finding]:
        """Scan several in-memory sinks, each given as (name, content)."""
        return [finding for name, data in sinks for finding in self.scan(data, name)]

    # -- the pass ------------------------------------------------------------------------------

    def _scan(self, data: bytes | mmap.mmap, sink: str) -> list[Finding]:
        findings, line, counted = [], 1, 0
        for start, end, kind, label, encoding in sorted(set(self._matches(data))):
            line += _newlines(data, counted, start)
            counted = start
            excerpt = self._excerpt(data, start, end, label)
            findings.append(Finding(sink, kind, label, encoding, start, line, excerpt))
        return findings

    def _matches(self, data: bytes | mmap.mmap) -> Iterator[Match]:
        # One pass finds what does not overlap. A canary and a credential can overlap (a
        # password in a URL; a bot token begins with the base64 of the bot's ID): around
        # each match the other kind is looked for again, in that span only. The regexes
        # capture nothing: RE2 then finds spans with its DFA alone, and a span is told
        # apart afterwards (a canary by lookup, a credential by its own small regex).
        for match in self._everything.finditer(data):
            start, end = match.span()
            text = data[start:end]
            needle = self._needles.get(text)
            if needle is not None:
                yield start, end, "canary", *needle
                window = min(len(data), end + self._reach)
                for inner in self._patterns_only.finditer(data, start, window):
                    if inner.start() < end:
                        yield from self._credential(data, *inner.span())
            elif not text.endswith(_FULLY_REDACTED):  # the common case: nothing to look at
                yield from self._credential(data, start, end)
                if self._canaries_only is not None:
                    for inner in self._canaries_only.finditer(data, start, end):
                        yield inner.start(), inner.end(), "canary", *self._needles[inner.group()]

    def _credential(self, data: bytes | mmap.mmap, start: int, end: int) -> Iterator[Match]:
        text = data[start:end]
        for pattern, regex in zip(self.patterns, self._pattern_regexes, strict=True):
            if regex.fullmatch(text):
                if not _is_placeholder(pattern.secret(text) if pattern.secret else text):
                    yield start, end, "credential", pattern.name, "pattern"
                return

    def _excerpt(self, data: bytes | mmap.mmap, start: int, end: int, label: str) -> str:
        """A few bytes either side, within the line, every secret masked.

        Where the window cuts through a token, the cut piece is left out: it could be part
        of another secret. Long tokens are masked, and so is any canary.
        """
        low = max(0, start - CONTEXT_BYTES)
        before = data[low:start]
        if b"\n" in before:
            before = before.rsplit(b"\n", 1)[1]
        elif low > 0 and _TOKEN_BYTE.match(data, low - 1):
            before = _LEADING_TOKEN.sub(b"", before, count=1)
        high = min(len(data), end + CONTEXT_BYTES)
        after = data[end:high]
        if b"\n" in after:
            after = after.split(b"\n", 1)[0]
        elif high < len(data) and _TOKEN_BYTE.match(data, high):
            after = _TRAILING_TOKEN.sub(b"", after, count=1)
        # A token glued to the match may be the rest of the same secret (half of a canary
        # matched, the other half next to it): leave it out too.
        if _TOKEN_BYTE.match(data, start) and start > 0 and _TOKEN_BYTE.match(data, start - 1):
            before = _TRAILING_TOKEN.sub(b"", before, count=1)
        if _TOKEN_BYTE.match(data, end - 1) and _TOKEN_BYTE.match(data, end):
            after = _LEADING_TOKEN.sub(b"", after, count=1)
        return f"{self._masked(before)}<<{label}>>{self._masked(after)}"

    def _masked(self, part: bytes) -> str:
        part = _LONG_TOKEN.sub(b"[...]", part)
        if self._canaries_only is not None:
            part = self._canaries_only.sub(b"[canary]", part)
        text = part.decode("utf-8", errors="replace")
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _newlines(data: bytes | mmap.mmap, low: int, high: int) -> int:
    if isinstance(data, bytes):
        return data.count(b"\n", low, high)
    return data[low:high].count(b"\n")  # a mapped file: the slice is read once


def summary(findings: Iterable[Finding]) -> list[str]:
    """One line per finding, for a failure message or a report (no secret in any)."""
    return [finding.describe() for finding in findings]
