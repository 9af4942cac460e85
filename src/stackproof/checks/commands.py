"""The profile's command, sent through the public front as Discord would send it.

Each call makes a fresh application-command interaction (a new snowflake ID, signed with the
stack's Discord key) unless a payload is given again: `redeliver` re-sends one byte for
byte, as a retried delivery would. An answer "has data" when it is a 200 whose body carries
the profile's `answer_contains`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from stackproof.backends.base import Stack
from stackproof.checks.http import FrontClient
from stackproof.errors import CapabilityMissingError
from stackproof.fakes.discord import DiscordSigner
from stackproof.profile.chaos import CommandSettings


class CommandUnavailableError(LookupError):
    """The profile or the backend cannot send commands; the message says why (a skip)."""


@dataclass(frozen=True, slots=True)
class CommandAnswer:
    interaction_id: str
    status: int | None  # None: no answer within the timeout
    took_s: float
    has_data: bool
    error: str | None = None
    body: str = ""

    @property
    def accepted(self) -> bool:
        """Discord would show the answer: the interaction was handled."""
        return self.status == 200

    def describe(self) -> str:
        seen = f"status {self.status}" if self.status is not None else f"no answer ({self.error})"
        return f"interaction {self.interaction_id}: {seen} after {self.took_s:.2f} s"


def command_settings(stack: Stack) -> CommandSettings:
    settings = stack.profile.command
    if settings is None:
        raise CommandUnavailableError("the profile describes no command ([command])")
    return settings


def signer(stack: Stack) -> DiscordSigner:
    try:
        return stack.signer()
    except CapabilityMissingError as error:
        raise CommandUnavailableError(f"{error}, so it cannot sign commands") from None


class CommandClient:
    def __init__(self, stack: Stack, timeout_s: float = 10.0) -> None:
        self.settings = command_settings(stack)
        self.signer = signer(stack)
        self.timeout_s = timeout_s
        self._front = FrontClient(stack.public, timeout_s=timeout_s)

    def payload(self, options: dict[str, str] | None = None) -> dict[str, Any]:
        return self.signer.command(self.settings.name, options or self.settings.options)

    def send(self, options: dict[str, str] | None = None) -> CommandAnswer:
        return self.redeliver(self.payload(options))

    def redeliver(self, payload: dict[str, Any]) -> CommandAnswer:
        body, headers = self.signer.signed(payload)
        started = time.monotonic()
        try:
            response = self._front.https("POST", self.settings.path, headers=headers, content=body)
        except httpx.HTTPError as error:
            took = time.monotonic() - started
            return CommandAnswer(payload["id"], None, took, False, f"{type(error).__name__}")
        took = time.monotonic() - started
        has_data = response.status_code == 200 and self.settings.answer_contains in response.text
        return CommandAnswer(
            payload["id"], response.status_code, took, has_data, body=response.text[:300]
        )

    def close(self) -> None:
        self._front.close()

    def __enter__(self) -> CommandClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
