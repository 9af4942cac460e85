"""The generic service kind: a service stackproof does not know (a broker, MySQL, anything on TCP).

The profile says how to run it (`process.command` and `process.setup` on the process backend,
with `{{ port.<name> }}` and `{{ dir.state }}`, a folder the run makes), which ports it listens
on, and how to know it is ready: a TCP connect, an HTTP path answering a status, or a command
that exits 0. Its links are faulted like any other (the fault proxy, `{{ link.<name>.* }}`).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GenericReadiness(_Strict):
    """Exactly one of `tcp` (a port name), `http` (a path) or `command` (an argv)."""

    tcp: str | None = Field(default=None, description="a port name: ready when it accepts")
    http: str | None = Field(default=None, description="a path answering `status`")
    port: str | None = Field(
        default=None, description="the port `http` is asked on (default: the first)"
    )
    status: int = Field(default=200, ge=100, le=599)
    command: list[str] | None = Field(
        default=None, min_length=1, description="an argv (placeholders allowed) that exits 0"
    )
    timeout_s: float = Field(default=5.0, gt=0, description="longest one try of `command` may take")

    @field_validator("http")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"must start with '/', got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Self:
        given = [k for k in ("tcp", "http", "command") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "say exactly one of tcp (a port name), http (a path) or command (an argv), "
                f"got {', '.join(given) or 'none'}"
            )
        if self.port is not None and self.http is None:
            raise ValueError("'port' goes with 'http'")
        return self

    def ports_named(self) -> list[str]:
        return [p for p in (self.tcp, self.port) if p is not None]


class GenericSettings(_Strict):
    """`[services.<name>.generic]`: what stackproof must be told about a generic service."""

    ready: GenericReadiness | None = Field(
        default=None, description="how to know it is ready (default: its first port accepts)"
    )
    scheme: str = Field(
        default="tcp",
        pattern=r"^[a-z][a-z0-9+.-]*$",
        description="the scheme of `{{ link.<name>.url }}` (amqp, mysql, ...)",
    )
    unprivileged: bool = Field(
        default=True,
        description="when stackproof runs as root, run it (and its setup) as an unprivileged "
        "user, as servers that refuse root want",
    )

    def problems(self, ports: tuple[str, ...]) -> list[str]:
        if self.ready is None:
            return []
        return [
            f"generic.ready: no port named {port!r} (the service has {', '.join(ports)})"
            for port in self.ready.ports_named()
            if port not in ports
        ]
