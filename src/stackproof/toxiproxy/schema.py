"""What the Toxiproxy API returns, as a client sees it, and the errors a client raises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stackproof.errors import StackproofError

Stream = Literal["upstream", "downstream"]


class ToxiproxyError(StackproofError):
    """The API refused a request; carries the status and the server's message."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {message}")
        self.status = status
        self.message = message


class ToxiproxyBadRequestError(ToxiproxyError):
    """400: malformed body, missing field, invalid stream/type/attributes."""


class ToxiproxyNotFoundError(ToxiproxyError):
    """404: no such proxy or toxic."""


class ToxiproxyConflictError(ToxiproxyError):
    """409: a proxy or toxic of that name exists."""


ERRORS: dict[int, type[ToxiproxyError]] = {
    400: ToxiproxyBadRequestError,
    404: ToxiproxyNotFoundError,
    409: ToxiproxyConflictError,
}


@dataclass(frozen=True, slots=True)
class ToxicInfo:
    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToxicInfo:
        return cls(
            name=data["name"],
            type=data["type"],
            stream=data["stream"],
            toxicity=float(data["toxicity"]),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...]

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProxyInfo:
        return cls(
            name=data["name"],
            listen=data["listen"],
            upstream=data["upstream"],
            enabled=bool(data["enabled"]),
            toxics=tuple(ToxicInfo.from_json(t) for t in data.get("toxics") or ()),
        )


ProxyRef = str | ProxyInfo
