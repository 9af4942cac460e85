"""Property-based tests of URL credential redaction (R-RED-1).

URLs are built from parts (scheme, credentials written in several ways, host, port, path,
query, fragment), so the expected output is known exactly: the same text with the
credentials replaced, and nothing else changed.
"""

from __future__ import annotations

import ipaddress
import json
import string
from dataclasses import dataclass
from urllib.parse import quote

from hypothesis import example, given
from hypothesis import strategies as st
from refstack.common.redaction import REDACTED_PASSWORD, REDACTED_USERNAME, redact_url_credentials

UNRESERVED = string.ascii_letters + string.digits + "-._~"
SUB_DELIMS = "!$&'()*+,;="
KNOWN_SCHEMES = [
    "postgres",
    "postgresql",
    "postgresql+psycopg",
    "jdbc:postgresql",
    "redis",
    "rediss",
    "redis+sentinel",
    "amqp",
    "amqps",
    "mongodb",
    "mongodb+srv",
    "mysql",
    "http",
    "https",
    "ftp",
    "sftp",
    "ssh",
    "git+ssh",
    "s3",
    "smtp",
    "ldap",
]

schemes = st.one_of(
    st.sampled_from(KNOWN_SCHEMES), st.from_regex(r"[a-zA-Z][a-zA-Z0-9+.\-]{0,12}", fullmatch=True)
)
# Credentials rich in the characters that matter: reserved ones, `%`, and anything else.
RESERVED = ":/?#[]@!$&'()*+,;=%"
secret_text = st.text(
    alphabet=st.one_of(st.sampled_from(RESERVED), st.characters(blacklist_categories=("Cs",))),
    min_size=1,
    max_size=24,
)


def _writes(safe: str) -> st.SearchStrategy[str]:
    """Text as a URL would carry it with the characters of `safe` left raw."""
    return secret_text.map(lambda text: quote(text, safe=safe))


# Ways credentials are written: fully percent-encoded; as RFC 3986 allows (sub-delimiters
# raw); with raw `@` (and `:` in the password); and, for passwords only, carelessly, with raw
# reserved characters that end an authority.
usernames = st.one_of(
    st.just(""), _writes(""), _writes(UNRESERVED + SUB_DELIMS), _writes(UNRESERVED + "@")
)
passwords = st.one_of(
    st.none(),
    st.just(""),
    _writes(""),
    _writes(UNRESERVED + SUB_DELIMS + ":"),
    _writes(UNRESERVED + SUB_DELIMS + ":@"),
    _writes(UNRESERVED + SUB_DELIMS + ":@/?#[]"),
)
reg_names = st.from_regex(r"[a-z0-9][a-z0-9\-]{0,12}(\.[a-z0-9\-]{1,12}){0,3}", fullmatch=True)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda address: f"[{ipaddress.IPv6Address(address)}]")
hosts = st.one_of(reg_names, ipv4, ipv6, st.just("localhost"))
ports = st.one_of(st.none(), st.integers(min_value=0, max_value=65535))


def _parts(safe: str) -> st.SearchStrategy[str]:
    return st.text(max_size=16).map(lambda text: quote(text, safe=safe))


def rests(*, with_at: bool) -> st.SearchStrategy[str]:
    """Path, query and fragment (each optional), with or without raw `@` in them."""
    at = "@" if with_at else ""
    path = _parts(UNRESERVED + SUB_DELIMS + ":/" + at).map(lambda p: "/" + p)
    query = _parts(UNRESERVED + SUB_DELIMS + ":/?" + at).map(lambda q: "?" + q)
    fragment = _parts(UNRESERVED + SUB_DELIMS + ":/?" + at).map(lambda f: "#" + f)
    optional = [st.one_of(st.just(""), part) for part in (path, query, fragment)]
    return st.tuples(*optional).map("".join)


@dataclass(frozen=True)
class Url:
    scheme: str
    username: str
    password: str | None
    host: str
    port: int | None
    rest: str

    @property
    def has_credentials(self) -> bool:
        return bool(self.username) or self.password is not None

    def _write(self, username: str, password: str | None) -> str:
        userinfo = username + ("" if password is None else f":{password}")
        at = "@" if self.has_credentials else ""
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{userinfo}{at}{self.host}{port}{self.rest}"

    @property
    def text(self) -> str:
        return self._write(self.username, self.password)

    @property
    def redacted(self) -> str:
        """The URL as R-RED-1 says it must come out."""
        username = REDACTED_USERNAME if self.username else ""
        if self.password is None:
            return self._write(username, None)
        return self._write(username, REDACTED_PASSWORD if self.password else "")


urls_with_credentials = st.builds(
    Url, schemes, usernames, passwords, hosts, ports, rests(with_at=False)
).filter(lambda url: url.has_credentials)


@st.composite
def urls_without_credentials(draw: st.DrawFn) -> Url:
    host, port = draw(hosts), draw(ports)
    # A raw `@` in the path after a host:port reads as credentials (documented): leave it
    # out there; it is fine after a bare host or an IPv6 literal.
    rest = draw(rests(with_at=port is None or host.startswith("[")))
    return Url(draw(schemes), "", None, host, port, rest)


# Words around the URLs: plain words, e-mail addresses, paths; none of them a URL.
plain_words = st.text(
    alphabet=st.characters(blacklist_categories=("Z", "C"), blacklist_characters="@"),
    min_size=1,
    max_size=12,
).filter(lambda word: "://" not in word and ":\\/\\/" not in word)
emails = st.from_regex(r"[a-z0-9._%+\-]{1,10}@[a-z0-9\-]{1,10}\.[a-z]{2,4}", fullmatch=True)
separators = st.sampled_from([" ", "\n", "\t", "  ", " \r\n"])


@st.composite
def texts_around(draw: st.DrawFn, urls: st.SearchStrategy[Url]) -> tuple[str, str]:
    """A text with URLs among other words, and what it must become."""
    pieces = draw(
        st.lists(
            st.one_of(plain_words.map(lambda w: (w, w)), emails.map(lambda e: (e, e)), urls.map(
                lambda u: (u.text, u.redacted)
            )),
            min_size=1,
            max_size=6,
        )
    )  # fmt: skip
    glue = [draw(separators) for _ in pieces]
    text = "".join(sep + given_text for sep, (given_text, _) in zip(glue, pieces, strict=True))
    expected = "".join(sep + want for sep, (_, want) in zip(glue, pieces, strict=True))
    return text, expected


@given(urls_with_credentials)
@example(Url("postgres", "user", "pass", "host", None, "/db"))
@example(Url("redis", "", "pass", "host", 6379, ""))
@example(Url("postgres", "us%40er", "p%2Fw%3Ad", "[::1]", 5432, "/db"))
@example(Url("postgres", "u", "pa/ss@w#o?r[d]", "[2001:db8::1]", None, "/db?x=1"))
@example(Url("https", "to@ken", None, "github.com", None, "/o/r.git"))
def test_credentials_are_replaced_and_nothing_else(url: Url) -> None:
    assert redact_url_credentials(url.text) == url.redacted


@given(texts_around(st.one_of(urls_with_credentials, urls_without_credentials())))
def test_urls_in_free_text_come_out_exactly_as_required(case: tuple[str, str]) -> None:
    text, expected = case
    assert redact_url_credentials(text) == expected


@given(urls_without_credentials())
@example(Url("https", "", None, "medium.com", None, "/@user/post"))
@example(Url("http", "", None, "[::1]", 8080, "/@me?to=a@b"))
def test_urls_without_credentials_are_unchanged(url: Url) -> None:
    assert redact_url_credentials(url.text) == url.text


@given(urls_with_credentials)
def test_credentials_in_json_are_replaced(url: Url) -> None:
    for dump in (json.dumps, lambda data: json.dumps(data).replace("/", "\\/")):
        assert redact_url_credentials(dump({"url": url.text})) == dump({"url": url.redacted})


@given(urls_with_credentials)
def test_a_url_percent_encoded_inside_another_is_redacted_too(url: Url) -> None:
    text = f"GET /login?next={quote(url.text, safe='')}&lang=en"
    assert redact_url_credentials(text) == f"GET /login?next={quote(url.redacted, safe='')}&lang=en"


# Credentials from an alphabet the rest of the URL never uses, so "it does not survive" is a
# plain substring check, whatever the path holds (`@`, a port, another URL).
canary_credentials = st.text(alphabet=string.ascii_uppercase, min_size=6)


@st.composite
def urls_with_canary_credentials(draw: st.DrawFn) -> tuple[str, str, str]:
    """A URL with uppercase credentials and anything after them; and the credentials."""
    username, password = draw(canary_credentials), draw(canary_credentials)
    port = draw(ports)
    rest = draw(st.text(alphabet="abcdef/@:?#=&.-_", max_size=24))
    host = draw(hosts) + ("" if port is None else f":{port}")
    return (
        f"{draw(st.sampled_from(KNOWN_SCHEMES))}://{username}:{password}@{host}/{rest}",
        username,
        password,
    )


@given(urls_with_canary_credentials())
def test_no_credential_survives_whatever_follows(case: tuple[str, str, str]) -> None:
    url, username, password = case
    redacted = redact_url_credentials(f"error: {url} (retrying)")
    assert username not in redacted
    assert password not in redacted
    assert REDACTED_PASSWORD in redacted


url_like_text = st.lists(
    st.sampled_from([*"ab1:/@%34AF?#[]\\. \"'&=", "://", "%3A%2F%2F", "%40"]), max_size=30
).map("".join)


@given(st.one_of(url_like_text, texts_around(urls_with_credentials).map(lambda c: c[0])))
def test_redacting_twice_is_redacting_once(text: str) -> None:
    once = redact_url_credentials(text)
    assert redact_url_credentials(once) == once


@given(st.text(max_size=80))
def test_text_without_an_at_sign_is_returned_as_is(text: str) -> None:
    if "@" not in text and "%40" not in text:
        assert redact_url_credentials(text) is text
