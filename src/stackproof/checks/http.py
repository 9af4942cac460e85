"""HTTP to the public front, as a browser would see it: by name, over verified TLS.

Connections go to the front's address while the request names the public host (Host header,
TLS SNI, certificate check), so a local stack needs no DNS entry. Every exchange is recorded
as evidence.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from stackproof.backends.values import PublicFront
from stackproof.checks.evidence import Evidence

SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "x-api-key", "x-signature-ed25519"})
BODY_EXCERPT = 400


def trust(front: PublicFront) -> ssl.SSLContext:
    """Verify as a browser would, against the run's CA (or the system store)."""
    return ssl.create_default_context(cafile=str(front.ca_bundle) if front.ca_bundle else None)


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
        "headers": dict(response.headers),
        "body_excerpt": response.text[:BODY_EXCERPT] if response.content else "",
    }


class FrontClient:
    """`source_address` binds the client's side of every connection (say 127.0.0.2), so the
    front sees a client of its own: what a per-client rate limit counts."""

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
        self._https = httpx.Client(
            transport=httpx.HTTPTransport(verify=trust(front), local_address=source_address),
            timeout=timeout_s,
        )
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
        response = self._https.request(
            method, url, headers=sent, content=content, extensions={"sni_hostname": self.front.host}
        )
        return self._record(response)

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
