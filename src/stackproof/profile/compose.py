"""How the compose backend runs a stack: a compose file (the user's own, or the reference
one), the overrides it takes, and which compose service is which service of the profile.

stackproof never edits the compose file: it adds one override of its own (labels, the
run's host ports on the addresses the file publishes, the fault proxy, the rerouted
links). Paths are relative to the profile's folder. Strings under `env` and the URLs may hold
`{{ placeholders }}`: `link.<target>.host|port|address` (where the service reaches a service
it links to: the fault proxy, where links are proxied), `secret.<name>`, `discord.public_key`,
`public.host`, `public.https_authority`, and, in the URLs, `endpoint.host|port|address`
(where the harness reaches the service: a port on 127.0.0.1).

    [compose]
    file = "app/docker-compose.yml"
    routing = "alias"                  # the proxy takes over each target's network alias

    [compose.services.db]
    service = "postgres"               # the compose service (default: the same name)
    ports = { postgres = 5432 }        # the profile's port name -> the container's port
    admin_url = "postgresql://postgres:example@{{ endpoint.address }}/postgres"
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Routing = Literal["env", "alias"]
Inputs = Literal["none", "reference"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComposeService(_Strict):
    """One service of the profile, as the compose file has it."""

    service: str | None = Field(default=None, description="the compose service's name")
    ports: dict[str, int] = Field(
        default_factory=dict, description="profile port name -> the port in the container"
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="environment the override sets (templates)"
    )
    admin_url: str | None = Field(
        default=None, description="a database's administrator URL (template)"
    )
    connection_url: str | None = Field(
        default=None, description="a URL for the harness to reach it directly (template)"
    )
    wheels: Path | None = Field(
        default=None,
        description="a requirements file (relative to the profile): its wheels, built on the "
        "host for the base image's Python, are the build context `wheels` of the service",
    )
    run_ca: bool = Field(
        default=False,
        description="mount the run's CA-issued certificate and key (nginx: /run/stackproof/tls)",
    )

    @model_validator(mode="after")
    def _ports(self) -> Self:
        for name, port in self.ports.items():
            if not 0 < port < 65536:
                raise ValueError(f"ports.{name}: {port} is out of range")
        return self


class ComposeSettings(_Strict):
    file: Path = Field(description="the compose file, relative to the profile")
    overrides: list[Path] = Field(default_factory=list, description="more files, in order")
    stack_overrides: list[Path] = Field(
        default_factory=list,
        description="more files after those, relative to stack.root (a mutant puts its own there)",
    )
    env_file: Path | None = Field(default=None, description="the compose file's variables")
    inputs: Inputs = Field(
        default="none",
        description="'reference': stackproof writes what compose/docker-compose.yml takes",
    )
    build_images: bool = Field(
        default=False, description="build stackproof's reference images from stack.root first"
    )
    base_image: str = Field(
        default="stackproof/base:bookworm",
        description="the base of stackproof's images (build_images, the fault proxy's)",
    )
    build: bool = Field(default=True, description="`compose build` services that name a build")
    routing: Routing = Field(
        default="env",
        description="env: the override sets `env` with the proxy's addresses; "
        "alias: the proxy takes over each target's network alias",
    )
    toxiproxy_image: str | None = Field(
        default=None, description="a real Toxiproxy image (else stackproof/toxiproxy)"
    )
    up_timeout_s: float = Field(default=180.0, gt=0)
    services: dict[str, ComposeService] = Field(default_factory=dict)

    def compose_name(self, service: str) -> str:
        mapped = self.services.get(service)
        return mapped.service if mapped is not None and mapped.service else service

    def settings(self, service: str) -> ComposeService:
        return self.services.get(service) or ComposeService()

    def resolved(self, base: Path, stack_root: Path | None = None) -> ComposeSettings:
        """The same settings with every path made absolute against `base` (the stack's
        overrides against `stack_root`, after the others)."""

        def absolute(path: Path, against: Path = base) -> Path:
            return path if path.is_absolute() else (against / path).resolve()

        in_stack = [absolute(p, stack_root or base) for p in self.stack_overrides]
        services = {
            name: service.model_copy(update={"wheels": absolute(service.wheels)})
            if service.wheels is not None
            else service
            for name, service in self.services.items()
        }
        return self.model_copy(
            update={
                "file": absolute(self.file),
                "overrides": [absolute(p) for p in self.overrides] + in_stack,
                "stack_overrides": [],
                "services": services,
                "env_file": absolute(self.env_file) if self.env_file else None,
            }
        )
