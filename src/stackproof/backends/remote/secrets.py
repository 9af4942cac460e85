"""Secrets of a stack stackproof did not start: read from environment variables or files
named in `[remote.secrets]` (never from the profile text), before anything runs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from stackproof.errors import ProfileError
from stackproof.profile.remote import SecretSource, resolve_path


def _read(name: str, source: SecretSource, profile_source: Path | None) -> str:
    if source.env is not None:
        value = os.environ.get(source.env, "")
        if not value.strip():
            raise ProfileError(
                f"remote.secrets.{name}: the environment variable {source.env} is not set "
                f"(or empty); export it before the run (`export {source.env}=...`), or name a "
                "file instead"
            )
        return value
    assert source.file is not None  # SecretSource has one of the two
    path = resolve_path(source.file, profile_source)
    try:
        value = path.read_text("utf-8").rstrip("\r\n")
    except OSError as error:
        raise ProfileError(
            f"remote.secrets.{name}: the file {path} cannot be read ({error.strerror}); "
            "write the secret there (mode 0600) or name an environment variable instead"
        ) from None
    if not value.strip():
        raise ProfileError(f"remote.secrets.{name}: the file {path} is empty")
    return value


def read_secrets(
    sources: Mapping[str, SecretSource], profile_source: Path | None
) -> dict[str, str]:
    """Every named secret's value; ProfileError naming each one that is not set."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for name, source in sources.items():
        try:
            values[name] = _read(name, source, profile_source)
        except ProfileError as error:
            problems.append(str(error))
    if problems:
        raise ProfileError("\n".join(problems))
    return values
