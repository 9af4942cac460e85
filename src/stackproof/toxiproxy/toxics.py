"""Toxics as the API sees them: types, attributes, JSON in and out, with Toxiproxy's rules.

Attribute parsing follows Go's decoder where that is sensible (unknown keys are ignored,
`null` keeps the current value) and is stricter where Go accepts nonsense that would hang
or crash a link: attributes must be non-negative integers and `toxicity` lies in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from stackproof.toxiproxy.errors import (
    BAD_REQUEST_BODY,
    INVALID_STREAM,
    INVALID_TOXIC_TYPE,
    TOXIC_ALREADY_EXISTS,
    ApiError,
)

Stream = Literal["upstream", "downstream"]
STREAMS: Final[tuple[Stream, ...]] = ("upstream", "downstream")


@dataclass(frozen=True, slots=True)
class ToxicType:
    """A toxic type: its attribute names (all integers, default 0) and extra rules."""

    name: str
    attributes: tuple[str, ...]

    def check(self, attributes: Mapping[str, int]) -> None:
        if self.name == "slicer":
            average, variation = attributes["average_size"], attributes["size_variation"]
            if average < 1:
                raise BAD_REQUEST_BODY.joined("slicer average_size must be at least 1")
            if variation >= average:
                raise BAD_REQUEST_BODY.joined("slicer size_variation must be below average_size")


TOXIC_TYPES: Final[Mapping[str, ToxicType]] = {
    t.name: t
    for t in (
        ToxicType("latency", ("latency", "jitter")),  # ms
        ToxicType("bandwidth", ("rate",)),  # KB/s
        ToxicType("slow_close", ("delay",)),  # ms
        ToxicType("timeout", ("timeout",)),  # ms; 0 = never close
        ToxicType("reset_peer", ("timeout",)),  # ms
        ToxicType("slicer", ("average_size", "size_variation", "delay")),  # bytes, bytes, µs
        ToxicType("limit_data", ("bytes",)),
    )
}


class Toxic:
    """One toxic on one proxy. Links notice changes through `version`.

    `seq` orders the chain: Toxiproxy appends new toxics at the end of their stream's chain
    and keeps a toxic's place when it is updated.
    """

    __slots__ = ("attributes", "name", "seq", "stream", "toxicity", "type", "version")

    def __init__(
        self,
        *,
        name: str,
        type_: ToxicType,
        stream: Stream,
        toxicity: float,
        attributes: dict[str, int],
        seq: int,
    ) -> None:
        self.name = name
        self.type = type_
        self.stream: Stream = stream
        self.toxicity = toxicity
        self.attributes = attributes
        self.seq = seq
        self.version = 0

    def attr(self, name: str) -> int:
        return self.attributes[name]

    def apply_update(self, body: object) -> None:
        """Apply `{"attributes": {...}, "toxicity": x}`; absent fields keep their values."""
        fields = _object(body)
        toxicity = _toxicity(fields.get("toxicity"), self.toxicity)
        attributes = _attributes(self.type, fields.get("attributes"), self.attributes)
        self.toxicity, self.attributes = toxicity, attributes
        self.version += 1

    def to_json(self) -> dict[str, object]:
        # Field order of Go's ToxicWrapper: the embedded toxic (attributes) comes first.
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type.name,
            "stream": self.stream,
            "toxicity": self.toxicity,
        }


def parse_toxic(body: object, *, seq: int, taken: Callable[[str], bool]) -> Toxic:
    """A new toxic from a create request, checked in the order Toxiproxy checks it.

    `taken` tells whether a name is in use on the proxy (either stream): a duplicate is a 409
    before the attributes are looked at.
    """
    fields = _object(body)
    stream = _string(fields, "stream", "downstream")
    if stream not in STREAMS:
        raise INVALID_STREAM
    type_name = _string(fields, "type", "")
    name = _string(fields, "name", "") or f"{type_name}_{stream}"
    type_ = TOXIC_TYPES.get(type_name)
    if type_ is None:
        raise INVALID_TOXIC_TYPE
    if taken(name):
        raise TOXIC_ALREADY_EXISTS
    return Toxic(
        name=name,
        type_=type_,
        stream="upstream" if stream == "upstream" else "downstream",
        toxicity=_toxicity(fields.get("toxicity"), 1.0),
        attributes=_attributes(type_, fields.get("attributes"), None),
        seq=seq,
    )


def _object(body: object) -> dict[str, object]:
    if not isinstance(body, dict):
        raise BAD_REQUEST_BODY.joined("expected a JSON object")
    return body


def _string(fields: Mapping[str, object], key: str, default: str) -> str:
    value = fields.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BAD_REQUEST_BODY.joined(f"{key} must be a string")
    return value


def _toxicity(value: object, current: float) -> float:
    if value is None:
        return current
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BAD_REQUEST_BODY.joined("toxicity must be a number")
    if not 0.0 <= value <= 1.0:
        raise BAD_REQUEST_BODY.joined(f"toxicity {value} is not between 0 and 1")
    return float(value)


def _attributes(
    type_: ToxicType, value: object, current: Mapping[str, int] | None
) -> dict[str, int]:
    result = dict(current) if current is not None else dict.fromkeys(type_.attributes, 0)
    if value is None:
        type_.check(result)
        return result
    if not isinstance(value, dict):
        raise BAD_REQUEST_BODY.joined("attributes must be a JSON object")
    for key in type_.attributes:
        given = value.get(key)
        if given is None:
            continue
        if isinstance(given, bool) or not isinstance(given, int):
            raise _bad_attribute(type_, key, f"must be an integer, not {given!r}")
        if given < 0:
            raise _bad_attribute(type_, key, f"must not be negative, not {given}")
        result[key] = given
    type_.check(result)
    return result


def _bad_attribute(type_: ToxicType, key: str, why: str) -> ApiError:
    return BAD_REQUEST_BODY.joined(f"{type_.name} attribute {key} {why}")
