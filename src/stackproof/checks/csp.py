"""Content-Security-Policy parsed as browsers parse it, and judged by strictness (R-HDR-6).

Parsing follows CSP Level 3 (W3C, §2.2 "parse a serialized CSP list"): a header value is a
comma-separated list of policies, each a `;`-separated list of directives, each a name
(ASCII case-insensitive) and a whitespace-separated source list. Browsers keep the first of
a repeated directive and ignore the rest; here the repeat is also reported, since the text
then says two things. Every enforced policy applies (a request must pass each); a
`Content-Security-Policy-Report-Only` policy enforces nothing.

Strictness: a policy is at least as strict as a required one when everything it permits,
the required one permits too — for every fetch destination (each through CSP's fallback
list, §6.8.3, down to `default-src`), for the directives that do not fall back
(`frame-ancestors`, `base-uri`, `form-action`), for `sandbox`'s flags. With several
enforced policies, a directive is judged strict enough when one of them is (sound: what
passes all of them passes that one). Source expressions follow §2.3.1: keywords, nonces
and hashes match only themselves; `*` matches network schemes; host sources by scheme,
host (with `*.` wildcards), port and path.

Nothing here imports the rest of stackproof: the profile validates its own policy value
with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

CATALOG_POLICY = "default-src 'none'; frame-ancestors 'none'"
"""R-HDR-6's policy; a profile may only tighten it."""

# Each fetch destination, by the directives a browser looks it up in (CSP3 §6.8.3).
FALLBACKS: Mapping[str, tuple[str, ...]] = {
    "script-src-elem": ("script-src-elem", "script-src", "default-src"),
    "script-src-attr": ("script-src-attr", "script-src", "default-src"),
    "style-src-elem": ("style-src-elem", "style-src", "default-src"),
    "style-src-attr": ("style-src-attr", "style-src", "default-src"),
    "worker-src": ("worker-src", "child-src", "script-src", "default-src"),
    "frame-src": ("frame-src", "child-src", "default-src"),
    "fenced-frame-src": ("fenced-frame-src", "frame-src", "child-src", "default-src"),
    "connect-src": ("connect-src", "default-src"),
    "font-src": ("font-src", "default-src"),
    "img-src": ("img-src", "default-src"),
    "manifest-src": ("manifest-src", "default-src"),
    "media-src": ("media-src", "default-src"),
    "object-src": ("object-src", "default-src"),
}
FETCH_DIRECTIVES = frozenset(d for chain in FALLBACKS.values() for d in chain)
# Source lists with no fallback: absent means anything goes.
OWN_SOURCE_LISTS = ("frame-ancestors", "base-uri", "form-action")
FLAG_DIRECTIVES = ("upgrade-insecure-requests", "block-all-mixed-content")
# Where a policy sends reports says nothing about what it permits.
REPORTING = frozenset({"report-uri", "report-to"})

UNSAFE_KEYWORDS = ("'unsafe-inline'", "'unsafe-eval'")
NETWORK_SCHEMES = frozenset({"http", "https", "ws", "wss"})
_SCHEME_UPGRADES = {"http": {"http", "https"}, "ws": {"ws", "wss"}}
_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21"}
_DIRECTIVE_NAME = re.compile(r"^[a-z0-9-]+$")
_HASH_OR_NONCE = re.compile(r"^'(nonce|sha256|sha384|sha512)-(.+)'$", re.IGNORECASE)
_SCHEME_SOURCE = re.compile(r"^([a-z][a-z0-9+.-]*):$", re.IGNORECASE)
_HOST_SOURCE = re.compile(
    r"^(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?"
    r"(?P<host>\*|(?:\*\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*)"
    r"(?::(?P<port>\*|\d+))?"
    r"(?P<path>/[^;,\s]*)?$",
    re.IGNORECASE,
)


def normal_source(token: str) -> str:
    """A source expression as browsers compare it: keywords, schemes and hosts are
    case-insensitive; nonce and hash values and paths are not."""
    if match := _HASH_OR_NONCE.match(token):
        return f"'{match.group(1).lower()}-{match.group(2)}'"
    if token.startswith("'"):
        return token.lower()
    if match := _HOST_SOURCE.match(token):
        scheme = f"{match['scheme'].lower()}://" if match["scheme"] else ""
        port = f":{match['port']}" if match["port"] else ""
        return f"{scheme}{match['host'].lower()}{port}{match['path'] or ''}"
    return token.lower()


@dataclass(frozen=True, slots=True)
class Policy:
    """One serialized policy: its directives (first occurrence each) and what browsers
    would have dropped from it."""

    text: str
    directives: Mapping[str, tuple[str, ...]]
    repeated: tuple[str, ...] = ()
    invalid_names: tuple[str, ...] = ()

    def sources(self, directive: str) -> tuple[str, ...] | None:
        """The directive's source list, or None where the policy does not have it."""
        return self.directives.get(directive)

    def effective(self, destination: str) -> tuple[str, tuple[str, ...]] | None:
        """The directive a fetch of `destination` is checked against, and its sources."""
        for name in FALLBACKS.get(destination, (destination,)):
            if name in self.directives:
                return name, self.directives[name]
        return None

    def __str__(self) -> str:
        return self.text


def parse_policy(text: str) -> Policy:
    """One serialized policy (CSP3 §2.2.1)."""
    directives: dict[str, tuple[str, ...]] = {}
    repeated: list[str] = []
    invalid: list[str] = []
    for token in text.split(";"):
        parts = token.strip().split()
        if not parts:
            continue
        name = parts[0].lower()
        if not _DIRECTIVE_NAME.match(name):
            invalid.append(parts[0])
        elif name in directives:
            repeated.append(name)
        else:
            directives[name] = tuple(normal_source(p) for p in parts[1:])
    return Policy(text.strip(), directives, tuple(repeated), tuple(invalid))


def parse_policies(values: Iterable[str]) -> list[Policy]:
    """Every policy in these header values (each may hold several, comma-separated);
    a policy with no directive at all enforces nothing and is left out."""
    found = [parse_policy(part) for value in values for part in value.split(",")]
    return [p for p in found if p.directives or p.repeated or p.invalid_names]


# --- source expressions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Host:
    scheme: str | None
    host: str
    port: str | None
    path: str | None


def _host_source(source: str) -> _Host | None:
    if source.startswith("'") or source == "*":
        return None
    match = _HOST_SOURCE.match(source)
    if match is None:
        return None
    scheme = match["scheme"].lower() if match["scheme"] else None
    return _Host(scheme, match["host"].lower(), match["port"], match["path"])


def _scheme_source(source: str) -> str | None:
    match = _SCHEME_SOURCE.match(source)
    return match.group(1).lower() if match else None


def is_wildcard(source: str) -> bool:
    """`*`, a `*` in a host or port, or a network scheme alone (any host of it)."""
    if source == "*":
        return True
    if (scheme := _scheme_source(source)) is not None:
        return scheme in NETWORK_SCHEMES | {"ftp"}
    host = _host_source(source)
    return host is not None and ("*" in host.host or host.port == "*")


def _schemes_covered(required: str | None, given: str | None) -> bool:
    # No scheme means the protected answer's own; R-HDR-6 judges HTTPS answers.
    required_schemes = {"https"} if required is None else _SCHEME_UPGRADES.get(required, {required})
    return (given or "https") in required_schemes


def _host_covered(required: str, given: str) -> bool:
    if required == "*":
        return True
    if required.startswith("*."):
        suffix = required[1:]
        return given.endswith(suffix)
    return required == given


def _port_covered(required: _Host, given: _Host) -> bool:
    """No port means the scheme's default one (scheme coverage is judged on its own)."""
    if required.port == "*":
        return True
    if given.port == "*":
        return False
    given_port = given.port or _DEFAULT_PORTS.get(given.scheme or "https")
    if required.port is None:
        return given.port is None or given_port == _DEFAULT_PORTS.get(given.scheme or "https")
    return required.port == given_port


def _path_covered(required: str | None, given: str | None) -> bool:
    if required is None or required == "/":
        return True
    if given is None:
        return False
    return given.startswith(required) if required.endswith("/") else given == required


def _star_permits(given: str) -> bool:
    """`*` matches URLs of the network schemes (and of the answer's own, https)."""
    if (host := _host_source(given)) is not None:
        return host.scheme is None or host.scheme in NETWORK_SCHEMES
    return _scheme_source(given) in NETWORK_SCHEMES or given == "'self'"


def _scheme_permits(required: str, given: str) -> bool:
    if (scheme := _scheme_source(given)) is not None:
        return _schemes_covered(required, scheme)
    if (host := _host_source(given)) is not None:
        return _schemes_covered(required, host.scheme)
    return given == "'self'" and _schemes_covered(required, None)


def _host_permits(required: _Host, given: str) -> bool:
    host = _host_source(given)
    return (
        host is not None
        and _schemes_covered(required.scheme, host.scheme)
        and _host_covered(required.host, host.host)
        and _port_covered(required, host)
        and _path_covered(required.path, host.path)
    )


def permits(required: str, given: str) -> bool:
    """Whether the source `required` permits everything the source `given` permits.
    Keywords, nonces and hashes permit only themselves."""
    if required == given:
        return True
    if required == "*":
        return _star_permits(given)
    if (scheme := _scheme_source(required)) is not None:
        return _scheme_permits(scheme, given)
    if (host := _host_source(required)) is not None:
        return _host_permits(host, given)
    return False


def permissions(sources: tuple[str, ...]) -> tuple[str, ...]:
    """What a source list lets through: `'none'` and `'report-sample'` let nothing through."""
    return tuple(s for s in sources if s not in ("'none'", "'report-sample'"))


def laxer_sources(given: tuple[str, ...], required: tuple[str, ...]) -> list[str]:
    """The sources of `given` that `required` does not permit."""
    allowed = permissions(required)
    return [g for g in permissions(given) if not any(permits(r, g) for r in allowed)]


# --- judging ----------------------------------------------------------------------------------


def _show(sources: tuple[str, ...]) -> str:
    return " ".join(sources) or "(empty: 'none')"


def _sandbox_problem(policies: list[Policy], required: tuple[str, ...]) -> str | None:
    allowed = set(required)
    for policy in policies:
        flags = policy.sources("sandbox")
        if flags is not None and set(flags) <= allowed:
            return None
    return f"sandbox: required as sandbox {_show(required)}, not given or allowing more"


def _lookup(policy: Policy, directive: str, fallback: bool) -> tuple[str, tuple[str, ...]] | None:
    if fallback:
        return policy.effective(directive)
    sources = policy.sources(directive)
    return None if sources is None else (directive, sources)


def _too_lax(
    policies: list[Policy], directive: str, required: tuple[str, ...], fallback: bool
) -> str | None:
    """None when some policy restricts `directive` at least as strictly as `required`;
    else what each policy lets through beyond it."""
    seen = []
    for policy in policies:
        found = _lookup(policy, directive, fallback)
        if found is None:
            seen.append(
                "no default-src, nor a directive of its own: not restricted"
                if fallback
                else f"no {directive}: not restricted"
            )
            continue
        name, sources = found
        extra = laxer_sources(sources, required)
        if not extra:
            return None
        seen.append(f"{name} {_show(sources)} permits {' '.join(extra)}")
    return "; ".join(dict.fromkeys(seen))


def strictness_problems(policies: list[Policy], required: Policy) -> list[str]:
    """Where the enforced `policies` permit more than `required` does: one problem per
    way of being too lax, naming the fetch destinations it concerns."""
    lax: dict[tuple[str, str], list[str]] = {}
    for destination in FALLBACKS:
        restriction = required.effective(destination)
        if restriction is None:
            continue
        if (found := _too_lax(policies, destination, restriction[1], True)) is not None:
            lax.setdefault((found, _show(restriction[1])), []).append(destination)
    problems = [
        f"{found} (required: {wanted}, for "
        + ("every fetch" if len(where) == len(FALLBACKS) else ", ".join(where))
        + ")"
        for (found, wanted), where in lax.items()
    ]
    for directive, sources in required.directives.items():
        if directive in FETCH_DIRECTIVES or directive in REPORTING:
            continue
        if directive == "sandbox":
            problem = _sandbox_problem(policies, sources)
        elif directive in FLAG_DIRECTIVES:
            given = any(directive in p.directives for p in policies)
            problem = None if given else f"{directive}: required, not given"
        elif directive in OWN_SOURCE_LISTS:
            found = _too_lax(policies, directive, sources, False)
            problem = None if found is None else f"{found} (required: {directive} {_show(sources)})"
        else:
            # A directive without a known order of strictness must be given as required.
            same = any(set(p.sources(directive) or ()) == set(sources) for p in policies)
            problem = None if same else f"{directive}: required as {_show(sources)}, not given so"
        if problem:
            problems.append(problem)
    return problems


def unsafe_problems(policies: list[Policy]) -> list[str]:
    """The catalog's outright failures, wherever they stand: `'unsafe-inline'`,
    `'unsafe-eval'`, and wildcard sources."""
    found = []
    for policy in policies:
        for directive, sources in policy.directives.items():
            for source in sources:
                if source in UNSAFE_KEYWORDS:
                    found.append(f"{directive} allows {source}")
                elif is_wildcard(source):
                    found.append(f"{directive} allows the wildcard source {source}")
    return found


def text_problems(policies: list[Policy]) -> list[str]:
    """What browsers drop from the policy text: repeated directives, invalid names."""
    found: list[str] = []
    for policy in policies:
        found.extend(
            f"{name} is given more than once: browsers enforce the first and ignore the rest"
            for name in policy.repeated
        )
        found.extend(
            f"{name!r} is not a directive name: browsers ignore it" for name in policy.invalid_names
        )
    return found


def policy_problems(values: list[str], required: Policy) -> list[str]:
    """Everything wrong with the enforced policy these `Content-Security-Policy` field
    values make, against `required`; an empty list when it is at least as strict."""
    policies = parse_policies(values)
    if not policies:
        return [
            "Content-Security-Policy is missing"
            if not values
            else f"Content-Security-Policy {values!r} has no directive"
        ]
    return (
        text_problems(policies)
        + unsafe_problems(policies)
        + strictness_problems(policies, required)
    )
