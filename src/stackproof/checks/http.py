"""HTTP to the public front, as a browser would see it: by name, over verified TLS.

Connections go to the front's address while the request names the public host (Host header,
TLS SNI, certificate check), so a local stack needs no DNS entry. Every exchange is recorded
as evidence.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from stackproof.backends.values import PublicFront
from stackproof.checks.cookies import withheld_set_cookie
from stackproof.checks.evidence import Evidence
from stackproof.errors import PreconditionError

SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "x-api-key", "x-signature-ed25519"})
BODY_EXCERPT = 400


def trust(front: PublicFront) -> ssl.SSLContext:
    """Verify as a browser would, against the run's CA (or the system store)."""
    return ssl.create_default_context(cafile=str(front.ca_bundle) if front.ca_bundle else None)


def unverified() -> ssl.SSLContext:
    """TLS without verifying the certificate, as `curl -k` connects."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def certificate_rejection(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind an httpx error, if that is what it was."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@contextmanager
def answer_needed(what: str) -> Iterator[None]:
    """An answer a check needs that cannot be had at all (refused, reset, timed out) keeps the
    check from judging: an `error` naming what was asked, never a finding."""
    try:
        yield
    except httpx.TransportError as error:
        raise PreconditionError(
            f"{what}: no answer from the front ({type(error).__name__}: {error})"
        ) from error


def sent_or_cut(
    client: FrontClient,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | str | None = None,
) -> httpx.Response | str:
    """The answer, or how the connection ended once the request was on its way (a reset, a
    dropped connection: for a check of how a service takes bad input, an outcome to judge).
    A connection that could not be made at all is no such outcome: `PreconditionError`."""
    try:
        return client.https(method, path, headers=headers, content=content)
    except (httpx.ConnectError, httpx.ConnectTimeout) as error:
        raise PreconditionError(
            f"{method} {path}: cannot reach the front ({type(error).__name__}: {error})"
        ) from error
    except httpx.TransportError as error:
        return f"no answer: {type(error).__name__}"


def received_headers(response: httpx.Response) -> dict[str, str]:
    """The answer's headers for evidence: a cookie's value may be a session secret."""
    headers = dict(response.headers)
    if (cookies := withheld_set_cookie(response)) is not None:
        headers["set-cookie"] = cookies
    return headers


def exchange_record(response: httpx.Response) -> dict[str, Any]:
    request = response.request
    sent = {
        k: ("[withheld]" if k.lower() in SENSITIVE_HEADERS else v)
        for k, v in request.headers.items()
    }
    return {
        "request": f"{request.method} {request.url}",
        "request_headers": sent,
        "request_body_bytes": len(request.content) if request.content else 0,
        "status": response.status_code,
        "http_version": response.http_version,
        "headers": received_headers(response),
        "body_excerpt": response.text[:BODY_EXCERPT] if response.content else "",
    }


class FrontClient:
    """`source_address` binds the client's side of every connection (say 127.0.0.2), so the
    front sees a client of its own: what a per-client rate limit counts.

    A certificate the client rejects (wrong name, expired, untrusted chain) is what R-TLS-3
    and R-TLS-6 judge, and they report it. The headers, statuses and bodies every other check
    judges are the same whether or not the client trusts the certificate, so rather than an
    `error` for a cause already reported, the client then takes the answers as `curl -k`
    does — without verifying — and says so once in the evidence (`certificate_rejected`).
    """

    def __init__(
        self,
        front: PublicFront,
        evidence: Evidence | None = None,
        timeout_s: float = 10.0,
        source_address: str | None = None,
    ) -> None:
        self.front = front
        self.evidence = evidence
        self.source_address = source_address
        self.timeout_s = timeout_s
        self.certificate_rejected: str | None = None
        self._https = self._client(trust(front))
        self._http = httpx.Client(
            transport=httpx.HTTPTransport(local_address=source_address), timeout=timeout_s
        )

    def https(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | str | None = None,
    ) -> httpx.Response:
        url = self.front.https.url("https", path)
        sent = {"Host": self.front.https_authority, **(headers or {})}
        extensions = {"sni_hostname": self.front.host}
        try:
            response = self._https.request(
                method, url, headers=sent, content=content, extensions=extensions
            )
        except httpx.ConnectError as error:
            rejected = certificate_rejection(error)
            if rejected is None or self.certificate_rejected is not None:
                raise
            self._trust_no_certificate(rejected)
            response = self._https.request(
                method, url, headers=sent, content=content, extensions=extensions
            )
        return self._record(response)

    def _client(self, verify: ssl.SSLContext) -> httpx.Client:
        return httpx.Client(
            transport=httpx.HTTPTransport(verify=verify, local_address=self.source_address),
            timeout=self.timeout_s,
        )

    def _trust_no_certificate(self, rejected: ssl.SSLCertVerificationError) -> None:
        self.certificate_rejected = rejected.verify_message or str(rejected)
        self._https.close()
        self._https = self._client(unverified())
        if self.evidence is not None:
            self.evidence.add(
                "certificate rejected: answers taken without verifying it (as curl -k)",
                {
                    "host": self.front.host,
                    "reason": self.certificate_rejected,
                    "judged by": "R-TLS-3 (chain) and R-TLS-6 (name, expiry)",
                },
            )

    def http(
        self, method: str, path: str, *, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        if self.front.http is None or self.front.http_authority is None:
            raise RuntimeError("this stack's profile gives no plain-HTTP address")
        sent = {"Host": self.front.http_authority, **(headers or {})}
        response = self._http.request(method, self.front.http.url("http", path), headers=sent)
        return self._record(response)

    def _record(self, response: httpx.Response) -> httpx.Response:
        if self.evidence is not None:
            self.evidence.add("exchange", exchange_record(response))
        return response

    def close(self) -> None:
        self._https.close()
        self._http.close()

    def __enter__(self) -> FrontClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
