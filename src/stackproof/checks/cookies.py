"""Cookies a service sets, read as browsers read `Set-Cookie` (R-HDR-7).

RFC 6265 §5.2: the name and value run up to the first `;`, the attributes follow, each a
case-insensitive name with an optional `=value`; where an attribute is given twice, the last
one counts (§5.3). A line without `=` before its first `;` is a cookie with no name (RFC
6265bis §5.6, as browsers take it). A `Set-Cookie` whose `Max-Age` is zero or less, or
(without `Max-Age`) whose `Expires` lies in the past, removes a cookie rather than setting
one.

Cookie values may be session secrets: what is said about a cookie names it and its
attributes, never its value.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

SAMESITE_REQUIRED = ("lax", "strict")
WITHHELD = "[withheld]"


@dataclass(frozen=True, slots=True)
class SetCookie:
    name: str
    attributes: Mapping[str, str]  # lower-case attribute name -> value ("" for a flag)
    shown: str  # the line as given, its value withheld

    @property
    def secure(self) -> bool:
        return "secure" in self.attributes

    @property
    def http_only(self) -> bool:
        return "httponly" in self.attributes

    @property
    def same_site(self) -> str | None:
        return self.attributes.get("samesite")

    def removes(self, now: dt.datetime) -> bool:
        """Whether this line removes the cookie instead of setting it."""
        if (max_age := self.attributes.get("max-age")) is not None:
            try:
                return int(max_age) <= 0
            except ValueError:
                pass  # browsers ignore a Max-Age that is not a number; Expires decides
        if (expires := self.attributes.get("expires")) is not None:
            try:
                when = email.utils.parsedate_to_datetime(expires)
            except (TypeError, ValueError):
                return False  # a date browsers may read otherwise: judged as a set cookie
            return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)) <= now
        return False


def parse_set_cookie(line: str) -> SetCookie:
    pair, _, unparsed = line.partition(";")
    name, has_value, _value = pair.partition("=")
    name = name.strip() if has_value else ""
    attributes: dict[str, str] = {}
    shown = [f"{name}={WITHHELD}" if name else WITHHELD]
    for part in unparsed.split(";"):
        key, _, value = part.partition("=")
        key = key.strip()
        if key:
            attributes[key.lower()] = value.strip()
            shown.append(part.strip())
    return SetCookie(name, attributes, "; ".join(shown))


def set_cookies(response: httpx.Response) -> list[SetCookie]:
    """Each `Set-Cookie` field on its own (`Expires` holds commas: never split on them)."""
    return [parse_set_cookie(line) for line in response.headers.get_list("set-cookie")]


def cookie_problems(cookie: SetCookie) -> list[str]:
    found = []
    if not cookie.secure:
        found.append("no Secure")
    if not cookie.http_only:
        found.append("no HttpOnly")
    same_site = cookie.same_site
    if same_site is None:
        found.append("no SameSite")
    elif same_site.lower() not in SAMESITE_REQUIRED:
        found.append(f"SameSite={same_site}, not Lax or Strict")
    return found


def withheld_set_cookie(response: httpx.Response) -> str | None:
    """The response's `Set-Cookie` fields with their values withheld, for evidence."""
    lines = [c.shown for c in set_cookies(response)]
    return "\n".join(lines) if lines else None
