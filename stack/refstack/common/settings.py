"""Service settings from the environment, read once at start; missing ones stop the start."""

from __future__ import annotations

import os
from dataclasses import dataclass


class SettingsError(RuntimeError):
    """A required setting is missing or invalid. The message never includes a value."""


def required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set; the service refuses to start without it")
    return value


def optional(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive")
    return value


@dataclass(frozen=True, slots=True)
class CommonSettings:
    service: str
    database_url: str | None  # unset: the service runs, unready (a hard setting, R-HLT-3)
    redis_url: str | None  # unset: it runs without a cache, degraded (a soft one, R-HLT-5)
    readiness_timeout_s: float
    log_level: str

    @classmethod
    def from_env(cls, service: str) -> CommonSettings:
        return cls(
            service=service,
            database_url=optional("DATABASE_URL"),
            redis_url=optional("REDIS_URL"),
            readiness_timeout_s=seconds("READINESS_TIMEOUT_S", 2.0),
            log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        )
