"""Read a profile from TOML, apply overlays, validate, and say precisely what is wrong."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stackproof.errors import ProfileError
from stackproof.profile.model import Profile


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value in `overlay` replaces the one in `base`."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile file") from None
    except tomllib.TOMLDecodeError as error:
        raise ProfileError(f"{path}: not valid TOML: {error}") from None


def _describe(error: ValidationError, path: Path) -> str:
    lines = [f"{path}: the profile is invalid ({error.error_count()} problem(s)):"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "unknown key (check its spelling and where it is nested)"
        elif problem["type"] == "missing":
            message = "required key is missing"
        lines.append(f"  - {key}: {message}")
    return "\n".join(lines)


def _resolve_root(data: dict[str, Any], base: Path) -> dict[str, Any]:
    stack = data.get("stack")
    if isinstance(stack, dict) and isinstance(stack.get("root"), str):
        root = Path(stack["root"])
        data = deep_merge(
            data, {"stack": {"root": str(root if root.is_absolute() else base / root)}}
        )
    return data


def validate_profile(data: Mapping[str, Any], source: Path) -> Profile:
    """Validate already merged profile data; relative roots resolve against `source`'s folder."""
    resolved = _resolve_root(dict(data), source.parent.resolve())
    try:
        profile = Profile.model_validate(resolved)
    except ValidationError as error:
        raise ProfileError(_describe(error, source)) from None
    if profile.stack.root is not None and not profile.stack.root.is_dir():
        raise ProfileError(f"{source}: stack.root: {profile.stack.root} is not a directory")
    profile._source = source
    return profile


def load_profile(path: Path, *overlays: Mapping[str, Any]) -> Profile:
    """Load `path`, deep-merge each overlay over it in order, and validate the result."""
    data: dict[str, Any] = read_toml(path)
    for overlay in overlays:
        data = deep_merge(data, overlay)
    return validate_profile(data, path)
