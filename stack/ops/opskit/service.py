"""Service control: `<command> start|stop|restart|status SERVICE...`, like systemctl.

The command comes from the config (`service_control`): `svcctl` of a stackproof stack, a
wrapper around `systemctl` or `docker compose` on a server. `status` prints the state and
exits 0 only while the service runs; `exited` in its output means it stopped by itself.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

TIMEOUT_S = 300.0


class ControlError(Exception):
    """The service manager refused or failed; the message carries its words."""


@dataclass(frozen=True, slots=True)
class ServiceControl:
    command: tuple[str, ...]

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [*self.command, *args],
                capture_output=True,
                text=True,
                timeout=TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ControlError(f"`{' '.join(self.command)} {' '.join(args)}`: {error}") from None

    def _act(self, *args: str) -> str:
        done = self._run(*args)
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip()
            raise ControlError(f"`{' '.join(args)}` failed ({done.returncode}): {said}")
        return done.stdout.strip()

    def start(self, *services: str, wait: bool = False) -> str:
        return self._act("start", *services, *(["--wait"] if wait else []))

    def stop(self, *services: str) -> str:
        """Several at once: the service manager stops them side by side."""
        return self._act("stop", *services)

    def restart(self, service: str) -> str:
        return self._act("restart", service)

    def exited(self, service: str) -> bool:
        """True when the service stopped by itself (crashed): waiting for it is pointless."""
        done = self._run("status", service)
        return done.returncode != 0 and "exited" in done.stdout
