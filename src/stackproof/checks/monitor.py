"""The stack's uptime monitor, run as cron runs it: one probe per run, state in a file.

The command comes from the profile's `[uptime_monitor]`; it watches the readiness of one
service through the public front, and alerts the run's webhook receiver.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stackproof.backends.base import Stack
from stackproof.checks.health import join_path
from stackproof.fakes.webhook import WebhookMessage
from stackproof.profile.chaos import UptimeMonitorSettings
from stackproof.profile.template import render

AlertKind = Literal["DOWN", "UP", "unclear"]


@dataclass(frozen=True, slots=True)
class MonitorRun:
    exit_code: int
    output: str


def readiness_url(stack: Stack, service: str) -> str:
    """The service's readiness as the world sees it: through the public front."""
    health = stack.profile.services[service].health
    if health.readiness is None or health.public_prefix is None:
        raise LookupError(
            f"uptime_monitor.service: {service} has no readiness path under a public prefix"
        )
    return stack.public.https_url(join_path(health.public_prefix, health.readiness))


class UptimeMonitor:
    def __init__(
        self,
        stack: Stack,
        settings: UptimeMonitorSettings,
        state_file: Path,
        webhook_url: str,
    ) -> None:
        root = stack.profile.stack.root
        self.cwd = root if root is not None else Path.cwd()
        self.settings = settings
        front = stack.public
        self.context = {
            "python": stack.profile.stack.interpreter(),
            "url": readiness_url(stack, settings.service),
            # Where the front answers, which its name need not resolve to (a stack's own
            # loopback address on compose, a forwarded port): for a `--connect` option.
            "connect": front.https.address,
            "ca_file": str(front.ca_bundle or ""),
            "state_file": str(state_file),
            "webhook": webhook_url,
            "dir": {"root": str(self.cwd)},
        }

    def run_once(self) -> MonitorRun:
        argv = [render(part, self.context) for part in self.settings.command]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            **{key: render(value, self.context) for key, value in self.settings.env.items()},
        }
        try:
            done = subprocess.run(
                argv,
                cwd=self.cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=self.settings.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return MonitorRun(-1, f"did not finish within {self.settings.timeout_s:g} s")
        return MonitorRun(done.returncode, (done.stdout + done.stderr).strip())

    def classify(self, message: WebhookMessage) -> AlertKind:
        down = re.search(self.settings.down_pattern, message.text) is not None
        up = re.search(self.settings.up_pattern, message.text) is not None
        if down == up:
            return "unclear"
        return "DOWN" if down else "UP"
