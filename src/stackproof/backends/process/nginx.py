"""nginx as a local process: the stack's config template rendered with the run's ports and TLS."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Sequence
from pathlib import Path

from stackproof import binaries
from stackproof.backends.process.service import ProcessService, ServiceContext
from stackproof.backends.values import Endpoint
from stackproof.errors import ProfileError
from stackproof.procs import UNPRIVILEGED_UID, ProcessSpec, is_root
from stackproof.readiness import AllOf, TcpPort

TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def _worker_user() -> str:
    """nginx workers drop to this user when the master runs as root."""
    user = pwd.getpwuid(UNPRIVILEGED_UID).pw_name
    group = grp.getgrgid(UNPRIVILEGED_UID).gr_name
    return f"user {user} {group};"


class NginxService(ProcessService):
    def __init__(self, context: ServiceContext) -> None:
        super().__init__(context)
        self.binary = binaries.nginx(context.spec.process.binary)
        template = context.spec.process.config
        if template is None:
            raise ProfileError(
                f"services.{context.name}.process.config: an nginx service needs a config "
                "template (relative to stack.root)"
            )
        self.template = context.stack_root / template
        if not self.template.is_file():
            raise ProfileError(
                f"services.{context.name}.process.config: {self.template} does not exist"
            )

    @property
    def config_path(self) -> Path:
        return self.context.state_dir / "nginx.conf"

    def _global_directives(self) -> str:
        # Set here, not in the template, so every template runs in the foreground under us.
        directives = [f"daemon off; pid {self.context.state_dir / 'nginx.pid'};"]
        if is_root():
            directives.append(_worker_user())
        return " ".join(directives)

    def _argv(self, *extra: str) -> list[str]:
        return [
            str(self.binary),
            "-p",
            f"{self.context.state_dir}/",
            "-c",
            str(self.config_path),
            "-e",
            str(self.context.logs_dir / f"{self.name}.error.log"),
            "-g",
            self._global_directives(),
            *extra,
        ]

    def prepare(self) -> Sequence[ProcessSpec]:
        state = self.context.state_dir
        state.mkdir(parents=True, exist_ok=True)
        for name in TEMP_PATHS:
            (state / name).mkdir(exist_ok=True)
            if is_root():  # workers write request bodies here after dropping root
                os.chown(state / name, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
        rendered = self.context.render(self.template.read_text("utf-8"), "process.config")
        self.config_path.write_text(rendered, "utf-8")
        return [self.context.process_spec(self._argv("-t", "-q"), label=".configtest")]

    def command(self) -> ProcessSpec:
        return self.context.process_spec(self._argv())

    def readiness(self) -> AllOf:
        ports = self.context.spec.ports
        return AllOf(tuple(TcpPort(e.host, e.port) for e in map(self.context.endpoint, ports)))

    def link_facts(self, endpoint: Endpoint) -> dict[str, str]:
        return {
            "url": endpoint.url("https"),
            "host": endpoint.host,
            "port": str(endpoint.port),
            "address": endpoint.address,
        }

    def log_files(self) -> list[Path]:
        placeholders = self.context.placeholders()["log"]
        return [self.context.log_path, Path(placeholders["error"]), Path(placeholders["access"])]
