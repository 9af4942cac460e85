"""Profile settings for the auth suite: where the API key lives, which path is rate-limited,
and how the OAuth linking flow is driven.

Kept apart from `model.py` so the core model stays small; `model.py` only names these.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
ENV_PATTERN = r"^[A-Z_][A-Z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _absolute(value: str | None) -> str | None:
    if value is not None and not value.startswith("/"):
        raise ValueError(f"must start with '/', got {value!r}")
    return value


class OAuthSettings(_Strict):
    """The linking flow (R-OAUTH-1..3): GET `start_path?context=<token>` answers 302 to the
    provider's authorize page with a `state`; the provider sends the browser back to
    `callback_path?code=…&state=…`. `provider` is the fake standing in for AniList (its
    authorize page takes `login=<name>` for who approves)."""

    start_path: str = "/auth/oauth/start"
    callback_path: str = "/auth/oauth/callback"
    provider: str = "anilist"
    context_key_secret: str = Field(description="the secret the context token's MAC uses")
    token_canary_secret: str = Field(description="the secret every issued token starts with")
    database: str = Field(description="the postgres service holding the links")
    # Run by the harness as the database's administrator; %(state)s and %(user)s filled in.
    expired_state_sql: str = Field(description="plants a state that expired a second ago")
    state_lifetime_sql: str = Field(description="seconds until %(state)s expires")

    @field_validator("start_path", "callback_path")
    @classmethod
    def _paths(cls, value: str) -> str:
        return _absolute(value) or value


class AuthSettings(_Strict):
    """API keys and rate limits (R-AUTH-1, 2; R-RL-1, 2)."""

    service: str = Field(description="the service that holds the API key")
    api_key_secret: str = Field(description="the secret (of `secrets`) that is its API key")
    api_key_env: str = Field(pattern=ENV_PATTERN, description="where the service reads it")
    admin_path: str = Field(description="a route through the front that needs X-API-Key")
    rate_limited_path: str | None = Field(
        default=None, description="a path through the front under the per-client limit"
    )
    oauth: OAuthSettings | None = None

    @field_validator("admin_path", "rate_limited_path")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        return _absolute(value)

    def problems(self, services: dict[str, str], secrets: list[str]) -> list[str]:
        """What in these settings names something the profile does not have."""
        found = []
        if self.service not in services:
            found.append(f"auth.service: no service named {self.service!r}")
        named = {"auth.api_key_secret": self.api_key_secret}
        if self.oauth is not None:
            named |= {
                "auth.oauth.context_key_secret": self.oauth.context_key_secret,
                "auth.oauth.token_canary_secret": self.oauth.token_canary_secret,
            }
            if services.get(self.oauth.database) != "postgres":
                found.append(
                    f"auth.oauth.database: {self.oauth.database!r} is not a postgres service"
                )
            if self.oauth.provider not in services:
                found.append(f"auth.oauth.provider: no service named {self.oauth.provider!r}")
        for key, secret in named.items():
            if secret not in secrets or not re.match(NAME_PATTERN, secret):
                found.append(f"{key}: {secret!r} is not one of secrets ({', '.join(secrets)})")
        return found
