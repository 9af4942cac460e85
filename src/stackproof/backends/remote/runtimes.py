"""How one service runs on a staging host — a systemd unit, a Docker container on the host, or
a plain process — and what the host says of it over SSH.

Each runtime answers in the host's own words (`systemctl show`, `docker inspect`, `ps`):
identity (main PID and start time; container ID and StartedAt), working folder, logs
(`journalctl -u`, `docker logs`), the user it is configured to run as and the users its
processes actually have, its configured environment, and control (`systemctl`, `docker`).
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from stackproof.backends.hosts import CommandRun, ProcessOwner
from stackproof.backends.remote.ssh import SshHost
from stackproof.errors import CapabilityMissingError, PreconditionError
from stackproof.profile.remote import ServiceRuntime
from stackproof.run import SecretRegistry

LOG_LINES = 5000
CONTROL_TIMEOUT_S = 60.0


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile= and docker's --env-file read them."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        found[key.strip()] = value
    return found


def _properties(text: str) -> dict[str, str]:
    return dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)


def process_tree(table: str, root: int) -> list[ProcessOwner]:
    """`root` and its descendants from `ps -e -o pid=,ppid=,user=,args=` output."""
    rows: list[tuple[int, int, str, str]] = []
    for line in table.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[0].isdigit() and parts[1].isdigit():
            rows.append(
                (int(parts[0]), int(parts[1]), parts[2], parts[3] if len(parts) > 3 else "")
            )
    wanted, found = {root}, []
    for _ in range(len(rows)):  # parents before children need not hold: iterate to a fixpoint
        grown = wanted | {pid for pid, parent, _, _ in rows if parent in wanted}
        if grown == wanted:
            break
        wanted = grown
    for pid, _, user, command in rows:
        if pid in wanted:
            found.append(ProcessOwner(pid, user, command))
    return found


SECRET_NAMES = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|SALT|DSN|CREDENTIAL)", re.IGNORECASE)


def secret_values(environment: Mapping[str, str]) -> list[str]:
    """Values of an environment that must never reach a report: passwords inside URLs and
    the values of variables named like secrets."""
    found = []
    for key, value in environment.items():
        if SECRET_NAMES.search(key):
            found.append(value)
        with contextlib.suppress(ValueError):
            password = urlsplit(value).password
            if password:
                found.extend({password, unquote(password)})
    return found


class Runtime:
    """The common part: the host, the service's name and its runtime settings."""

    def __init__(
        self, host: SshHost, name: str, settings: ServiceRuntime, secrets: SecretRegistry
    ) -> None:
        self.host = host
        self._name = name
        self.settings = settings
        self._secrets = secrets

    def _registered(self, environment: dict[str, str]) -> dict[str, str]:
        for value in secret_values(environment):
            self._secrets.add(f"{self.name} environment", value)
        return environment

    @property
    def name(self) -> str:
        return self._name

    @property
    def runtime(self) -> str:
        return self.settings.runtime

    @property
    def target(self) -> str:
        return self.settings.target

    def environment(self) -> dict[str, str]:
        if self.settings.env_file is None:
            return {}
        done = self.host.run(f"cat -- {shlex.quote(self.settings.env_file)}")
        if not done.ok:
            raise PreconditionError(
                f"the environment file of {self.name} cannot be read ({done.describe()}); "
                f"check remote.services.{self.name}.env_file and that {self.host.target.user} "
                "may read it"
            )
        return self._registered(parse_env_file(done.stdout))

    def _processes_from(self, main_pid: int) -> list[ProcessOwner]:
        if main_pid <= 0:
            return []
        table = self.host.run("ps -e -o pid=,ppid=,user=,args=")
        return process_tree(table.stdout, main_pid)

    def control(self, action: str) -> None:
        raise NotImplementedError

    def identity(self) -> str | None:
        raise NotImplementedError

    def configured_user(self) -> str | None:
        raise NotImplementedError

    def processes(self) -> list[ProcessOwner]:
        raise NotImplementedError

    def inspect(self) -> dict[str, Any] | None:
        return None

    def workdir(self) -> str | None:
        return None

    def logs(self) -> str:
        raise NotImplementedError

    def running(self) -> bool:
        return self.identity() is not None


class SystemdRuntime(Runtime):
    def show(self, *properties: str) -> dict[str, str]:
        argv = ["systemctl", "show", self.target, *(f"--property={p}" for p in properties)]
        return _properties(self.host.run(shlex.join(argv)).stdout)

    def main_pid(self) -> int:
        value = self.show("MainPID").get("MainPID", "0")
        return int(value) if value.isdigit() else 0

    def identity(self) -> str | None:
        found = self.show("MainPID", "ExecMainStartTimestampMonotonic")
        pid = found.get("MainPID", "0")
        if pid in ("", "0"):
            return None
        return f"{self.target}:{pid}@{found.get('ExecMainStartTimestampMonotonic', '')}"

    def workdir(self) -> str | None:
        pid = self.main_pid()
        if pid <= 0:
            return None
        for command in (["readlink", f"/proc/{pid}/cwd"],):
            done = self.host.run(shlex.join(command))
            if not done.ok:
                done = self.host.root(command)
            if done.ok and done.stdout.strip():
                return done.stdout.strip()
        return self.show("WorkingDirectory").get("WorkingDirectory") or None

    def logs(self) -> str:
        argv = ["journalctl", "--unit", self.target, "--boot", "--no-pager", "--output=cat",
                f"--lines={LOG_LINES}"]  # fmt: skip
        done = self.host.run(shlex.join(argv))
        if not done.ok:
            done = self.host.root(argv)
        if not done.ok:
            raise CapabilityMissingError(
                f"the journal of {self.target} cannot be read ({done.describe()})",
                enable=f"put {self.host.target.user} in the systemd-journal group",
            )
        return done.stdout

    def configured_user(self) -> str | None:
        found = self.show("User", "DynamicUser")
        if found.get("DynamicUser") == "yes":
            return "(dynamic)"
        return found.get("User") or None

    def processes(self) -> list[ProcessOwner]:
        return self._processes_from(self.main_pid())

    def inspect(self) -> dict[str, Any] | None:
        return None

    def control(self, action: str) -> None:
        argv = {
            "start": ["systemctl", "start", self.target],
            "stop": ["systemctl", "stop", self.target],
            "restart": ["systemctl", "restart", self.target],
            "kill": ["systemctl", "kill", "--signal=SIGKILL", self.target],
            "pause": ["systemctl", "kill", "--signal=SIGSTOP", self.target],
            "resume": ["systemctl", "kill", "--signal=SIGCONT", self.target],
        }[action]
        _must(self.host.root(argv), self.name)


class ContainerRuntime(Runtime):
    def inspect(self) -> dict[str, Any] | None:
        done = self.host.run(shlex.join(["docker", "inspect", "--type=container", self.target]))
        if not done.ok:
            return None
        found = json.loads(done.stdout)
        return found[0] if found else None

    def identity(self) -> str | None:
        found = self.inspect()
        if not found or not found.get("State", {}).get("Running"):
            return None
        return f"{found['Id'][:12]}@{found['State'].get('StartedAt', '')}"

    def workdir(self) -> str | None:
        found = self.inspect()
        return (found or {}).get("Config", {}).get("WorkingDir") or None

    def logs(self) -> str:
        done = self.host.run(shlex.join(["docker", "logs", f"--tail={LOG_LINES}", self.target]))
        if not done.ok:
            raise CapabilityMissingError(
                f"`docker logs {self.target}` failed ({done.describe()})",
                enable=f"put {self.host.target.user} in the docker group",
            )
        return done.stdout + done.stderr

    def configured_user(self) -> str | None:
        found = self.inspect()
        return (found or {}).get("Config", {}).get("User") or None

    def processes(self) -> list[ProcessOwner]:
        found = self.inspect()
        pid = int((found or {}).get("State", {}).get("Pid", 0) or 0)
        return self._processes_from(pid)

    def environment(self) -> dict[str, str]:
        if self.settings.env_file is not None:
            return super().environment()
        found = self.inspect() or {}
        pairs = found.get("Config", {}).get("Env") or []
        return self._registered(dict(p.partition("=")[::2] for p in pairs))

    def control(self, action: str) -> None:
        verb = {"resume": "unpause"}.get(action, action)
        _must(self.host.run(shlex.join(["docker", verb, self.target])), self.name)


class ProcessRuntime(Runtime):
    def main_pid(self) -> int:
        done = self.host.run(shlex.join(["pgrep", "--oldest", "--full", self.target]))
        first = done.stdout.split()
        return int(first[0]) if done.ok and first else 0

    def identity(self) -> str | None:
        pid = self.main_pid()
        if pid <= 0:
            return None
        started = self.host.run(shlex.join(["ps", "-o", "lstart=", "-p", str(pid)])).stdout.strip()
        return f"{pid}@{started}"

    def workdir(self) -> str | None:
        pid = self.main_pid()
        done = self.host.run(shlex.join(["readlink", f"/proc/{pid}/cwd"])) if pid > 0 else None
        return done.stdout.strip() if done is not None and done.ok else None

    def logs(self) -> str:
        if self.settings.log_file is None:
            raise CapabilityMissingError(
                f"{self.name} runs as a plain process and the profile names no log file",
                enable=f"remote.services.{self.name}.log_file",
            )
        done = self.host.run(shlex.join(["tail", f"--lines={LOG_LINES}", self.settings.log_file]))
        return done.stdout

    def configured_user(self) -> str | None:
        return None  # a plain process has no configuration stackproof can read

    def processes(self) -> list[ProcessOwner]:
        return self._processes_from(self.main_pid())

    def inspect(self) -> dict[str, Any] | None:
        return None

    def control(self, action: str) -> None:
        raise CapabilityMissingError(
            f"{self.name} runs as a plain process: stackproof cannot restart it the way its "
            "supervisor would",
            enable=f"run it as a systemd unit or a container (remote.services.{self.name})",
        )


RUNTIMES: dict[str, type[Runtime]] = {
    "systemd": SystemdRuntime,
    "container": ContainerRuntime,
    "process": ProcessRuntime,
}


def runtime_of(
    host: SshHost, name: str, settings: ServiceRuntime, secrets: SecretRegistry
) -> Runtime:
    return RUNTIMES[settings.runtime](host, name, settings, secrets)


def _must(done: CommandRun, service: str) -> None:
    if not done.ok:
        raise PreconditionError(f"controlling {service} on the host failed: {done.describe()}")
