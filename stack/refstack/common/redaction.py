"""Keep credentials out of everything a service emits: logs, error events, breadcrumbs (R-RED-1).

`redact_url_credentials` replaces the credentials of every URL in a text::

    postgres://user:pass@host/db  ->  postgres://REDACTED_USERNAME:REDACTED_PASSWORD@host/db
    redis://:pass@host:6379       ->  redis://:REDACTED_PASSWORD@host:6379
    https://host/path             ->  unchanged

How a URL is read, in free text:

- Any scheme: the anchor is `://` (also JSON-escaped, `:\\/\\/`). The URL runs to the next
  whitespace, `"`, `<`, `>` or backtick.
- The credentials end at the last `@` of the authority (RFC 3986: the authority ends at the
  first `/`, `?` or `#`), so raw `@` and `:` inside a password are covered, and so is every
  percent-encoded character. The username is what comes before the first `:`.
- A password with a raw `/`, `?`, `#`, `[` or `]` (an invalid URL, but people write them)
  ends the authority early. So when the text before the first of those has a `:`, the
  credentials run to the last `@` of the URL that is followed by a host (a name or an IPv6
  literal, an optional port, then the end or `/?#`). This errs towards redacting: a URL such
  as `https://host:8080/@me`, whose path has an `@` after a port, reads as credentials.
- A whole URL percent-encoded inside another (`?next=postgres%3A%2F%2Fu%3Ap%40h`) is
  redacted in its encoded form (`REDACTED_USERNAME%3AREDACTED_PASSWORD%40`).
- Redacting twice changes nothing. A password containing whitespace cannot be told apart from
  the text around it and is not covered; percent-encode it (as URLs require anyway).

`KnownSecrets` replaces exact values a service holds (its database password, API key, bot
token), as a second line of defence. `Scrubber` applies such text redactors to whole
structures and provides the sentry-sdk hooks (`before_send`, `before_send_transaction`,
`before_breadcrumb`, `before_send_log`) and the log redaction (`RedactingFilter`,
`install_log_redaction`). A hook that fails drops what it was given rather than let it pass.

    scrubber = Scrubber(redact_url_credentials, hasher.hash_snowflakes)
    sentry_sdk.init(dsn=..., send_default_pii=False, **scrubber.sentry_options())
    install_log_redaction(scrubber)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import quote, unquote, urlsplit

REDACTED_USERNAME: Final = "REDACTED_USERNAME"
# What replaces a password or a secret: markers, not passwords.
REDACTED_PASSWORD: Final = "REDACTED_PASSWORD"  # noqa: S105
REDACTED_SECRET: Final = "[REDACTED]"  # noqa: S105

TextRedactor = Callable[[str], str]
_T = TypeVar("_T")

# Characters a host may consist of (RFC 3986 reg-name, and non-ASCII for IRIs).
_HOST_CHARS = r"A-Za-z0-9\-._~%!$&'()*+,;=\u0080-\U0010ffff"


@dataclass(frozen=True, slots=True)
class _Spelling:
    """How a URL's delimiters are written: plainly, or percent-encoded inside another URL."""

    separator: re.Pattern[str]  # `://`
    token: re.Pattern[str]  # the URL's extent after the separator
    authority_end: re.Pattern[str]  # what ends the authority
    at: re.Pattern[str]  # the userinfo's end
    at_before_host: re.Pattern[str]  # an at-sign followed by a host, a port and the end
    colon: re.Pattern[str]  # between username and password


_PLAIN: Final = _Spelling(
    separator=re.compile(r":(?://|\\/\\/)"),
    token=re.compile(r"[^\s\"<>`]*"),
    authority_end=re.compile(r"[/?#\\\[\]]"),
    at=re.compile(r"@"),
    at_before_host=re.compile(
        rf"@(?=(?:\[[^\]]*\]|[{_HOST_CHARS}]+)(?::[0-9]*)?(?:[/?#\\]|$))",
    ),
    colon=re.compile(r":"),
)

_ENCODED_DELIMITER = r"%(?:2F|3F|23|3A|40|5B|5D)"
_ENCODED: Final = _Spelling(
    separator=re.compile(r"%3A%2F%2F", re.IGNORECASE),
    # An encoded URL inside a query value ends where the value does.
    token=re.compile(r"[^\s\"<>`&]*"),
    authority_end=re.compile(r"%(?:2F|3F|23|5B|5D)|[/?#\\]", re.IGNORECASE),
    at=re.compile(r"%40"),
    at_before_host=re.compile(
        r"%40(?=(?:%5B.*?%5D|(?:[A-Za-z0-9\-._~!$'()*+,;=]|"
        rf"(?!{_ENCODED_DELIMITER})%[0-9A-F]{{2}})+)(?:%3A[0-9]*)?(?:%2F|%3F|%23|$))",
        re.IGNORECASE,
    ),
    colon=re.compile(r"%3A", re.IGNORECASE),
)


def redact_url_credentials(text: str) -> str:
    """`text` with the username and password of every URL in it replaced (see the module)."""
    if "@" in text:
        text = _redact(text, _PLAIN)
    if "%40" in text:
        text = _redact(text, _ENCODED)
    return text


def _redact(text: str, spelling: _Spelling) -> str:
    pieces: list[str] = []
    done = 0
    for separator in spelling.separator.finditer(text):
        start = separator.end()
        if start < done:  # a separator inside credentials already replaced
            continue
        token = spelling.token.match(text, start)
        assert token is not None  # the pattern matches the empty string
        end = _userinfo_end(token.group(), spelling)
        if end is None:
            continue
        pieces += [text[done:start], _masked(token.group()[:end], spelling)]
        done = start + end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _userinfo_end(token: str, spelling: _Spelling) -> int | None:
    """Where the credentials in `token` (a URL after its `://`) end, or None if it has none."""
    authority = token[: _first(spelling.authority_end, token)]
    at_signs = list(spelling.at.finditer(authority))
    rfc_end = at_signs[-1].start() if at_signs else None
    hosted = [m.start() for m in spelling.at_before_host.finditer(token)]
    if hosted and (rfc_end is None or hosted[-1] > rfc_end):
        head = token[: hosted[-1]]
        if spelling.colon.search(head, 0, _first(spelling.authority_end, head)):
            return hosted[-1]
    return rfc_end


def _first(pattern: re.Pattern[str], text: str) -> int:
    found = pattern.search(text)
    return found.start() if found else len(text)


def _masked(userinfo: str, spelling: _Spelling) -> str:
    colon = spelling.colon.search(userinfo)
    user = userinfo if colon is None else userinfo[: colon.start()]
    masked = REDACTED_USERNAME if user else ""
    if colon is None:
        return masked
    password = userinfo[colon.end() :]
    return masked + colon.group() + (REDACTED_PASSWORD if password else "")


class KnownSecrets:
    """Replaces exact secret values (and their percent-encoded forms) wherever they appear.

    For the values a service itself holds: the password of its database URL, its API key, its
    bot token. Values shorter than `min_length` are ignored: they would match ordinary text.
    """

    def __init__(self, values: Iterable[str], min_length: int = 8) -> None:
        forms = {form for value in values for form in (value, quote(value, safe=""))}
        # Longest first, so a value containing another is replaced whole.
        self._values = sorted((v for v in forms if len(v) >= min_length), key=len, reverse=True)

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, str | None], *, urls: Iterable[str] = (), min_length: int = 8
    ) -> KnownSecrets:
        """The values of the settings named in `settings`, and the passwords of `urls`."""
        values = [v for v in settings.values() if v]
        for url in urls:
            values += url_passwords(url)
        return cls(values, min_length)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED_SECRET)
        return text

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"KnownSecrets({len(self._values)} value(s))"


def url_passwords(url: str) -> list[str]:
    """The password of `url` as written and decoded (nothing if it has none)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


# Numbers sentry-sdk itself puts into telemetry that are long enough to look like IDs.
_SDK_NUMBERS: Final = frozenset({"time_unix_nano", "timestamp", "start_timestamp"})
_SHORTEST_ID: Final = 10**16  # Discord IDs have 17 digits or more


class Scrubber:
    """Applies text redactors to strings, and to every string and long number in a structure.

    A structure is redacted in place (dicts and lists) and returned: the sentry-sdk hooks get
    events built for them. Dict keys are redacted too. Numbers of 17 digits or more become
    strings when a redactor changes them (a Discord ID becomes its hash), except the SDK's
    own timestamps.
    """

    KEYS_REMEMBERED = 4096

    def __init__(self, *redactors: TextRedactor) -> None:
        if not redactors:
            raise ValueError("a Scrubber needs at least one redactor")
        self.redactors = redactors
        # Events repeat their keys ("filename", "vars", ...): remember how each came out.
        self._keys: dict[str, str] = {}

    def text(self, value: str) -> str:
        for redactor in self.redactors:
            value = redactor(value)
        return value

    def structure(self, data: _T) -> _T:
        return self._walk(data, None)  # type: ignore[return-value]  # same shape as given

    def _walk(self, data: object, key: object) -> object:
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            for name in list(data):
                value = self._walk(data[name], name)
                new_name = self._key(name) if isinstance(name, str) else name
                if new_name != name:
                    del data[name]
                data[new_name] = value
            return data
        if isinstance(data, list):
            data[:] = [self._walk(item, key) for item in data]
            return data
        if isinstance(data, tuple):
            return tuple(self._walk(item, key) for item in data)
        if (
            isinstance(data, int)
            and not isinstance(data, bool)
            and abs(data) >= _SHORTEST_ID
            and key not in _SDK_NUMBERS
        ):
            digits = str(data)
            redacted = self.text(digits)
            return data if redacted == digits else redacted
        return data

    def _key(self, name: str) -> str:
        redacted = self._keys.get(name)
        if redacted is None:
            if len(self._keys) >= self.KEYS_REMEMBERED:
                self._keys.clear()
            redacted = self._keys[name] = self.text(name)
        return redacted

    # -- sentry-sdk hooks: each drops what it cannot redact rather than let it pass ----------

    def before_send(self, event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        return self._or_drop(event)

    def before_send_transaction(
        self, event: dict[str, Any], hint: dict[str, Any]
    ) -> dict[str, Any] | None:
        return self._or_drop(event)

    def before_breadcrumb(
        self, crumb: dict[str, Any], hint: dict[str, Any]
    ) -> dict[str, Any] | None:
        # sentry-sdk keeps the original breadcrumb when this hook raises: never raise.
        return self._or_drop(crumb)

    def before_send_log(self, log: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        return self._or_drop(log)

    def sentry_options(self) -> dict[str, Callable[..., Any]]:
        """The hooks as keyword arguments of `sentry_sdk.init`."""
        return {
            "before_send": self.before_send,
            "before_send_transaction": self.before_send_transaction,
            "before_breadcrumb": self.before_breadcrumb,
            "before_send_log": self.before_send_log,
        }

    def _or_drop(self, data: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.structure(data)
        except Exception:  # an event that cannot be redacted is not sent
            return None

    def __repr__(self) -> str:
        names = ", ".join(getattr(r, "__name__", type(r).__name__) for r in self.redactors)
        return f"Scrubber({names})"


# -- logs ------------------------------------------------------------------------------------

_TRACEBACKS = logging.Formatter()


def redact_record(record: logging.LogRecord, scrubber: Scrubber) -> None:
    """Redact a log record in place: its message (arguments merged), traceback and stack."""
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format
        message = f"{record.msg} (log arguments dropped: they do not fit the message)"
    record.msg, record.args = scrubber.text(str(message)), None
    if record.exc_info and not record.exc_text:
        record.exc_text = _TRACEBACKS.formatException(record.exc_info)
    if record.exc_text:
        # Formatters print `exc_text` when it is set instead of formatting `exc_info` again.
        record.exc_text = scrubber.text(record.exc_text)
    if record.stack_info:
        record.stack_info = scrubber.text(record.stack_info)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record before it is formatted; drops none."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.scrubber)
        return True


def install_log_redaction(scrubber: Scrubber) -> Callable[[], None]:
    """Redact every log record as it is made, whatever logger or handler it goes to.

    A record factory covers the loggers of libraries with handlers of their own (uvicorn's)
    and handlers added later, which a filter on one handler would miss. Returns a function
    that puts the previous factory back.
    """
    previous = logging.getLogRecordFactory()

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record, scrubber)
        return record

    logging.setLogRecordFactory(make_record)
    return lambda: logging.setLogRecordFactory(previous)
