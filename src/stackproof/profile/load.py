"""Read a profile from TOML, apply overlays, validate, and say precisely what is wrong."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
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


def _path_keys(data: Mapping[str, Any]) -> Iterator[tuple[tuple[str, ...], bool]]:
    """Every key whose value is a path, and whether it names a binary: a binary named
    without a folder ("toxiproxy-server") is looked up on the search path instead."""
    yield ("stack", "root"), False
    yield ("stack", "python"), True
    yield ("policy", "tls", "ca_bundle"), False
    yield ("faults", "toxiproxy", "binary"), True
    services = data.get("services")
    if isinstance(services, Mapping):
        for name in services:
            yield ("services", name, "process", "binary"), True


def _lookup(data: Mapping[str, Any], key: tuple[str, ...]) -> Any:
    node: Any = data
    for part in key:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _nested(key: tuple[str, ...], value: str) -> dict[str, Any]:
    overlay: dict[str, Any] = {key[-1]: value}
    for part in reversed(key[:-1]):
        overlay = {part: overlay}
    return overlay


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Relative paths are read from the profile's folder, wherever the run starts from."""
    for key, binary in _path_keys(data):
        value = _lookup(data, key)
        if not isinstance(value, str) or Path(value).is_absolute():
            continue
        if binary and "/" not in value:
            continue
        data = deep_merge(data, _nested(key, str(base / value)))
    return data


def _check_paths(profile: Profile, source: Path) -> None:
    """Files the profile names that every backend reads must exist before anything starts."""
    where = f"(relative paths are read from the profile's folder, {source.parent.resolve()})"
    root = profile.stack.root
    if root is not None and not root.is_dir():
        raise ProfileError(f"{source}: stack.root: {root} is not a directory {where}")
    bundle = profile.policy.tls.ca_bundle
    if bundle is not None and not bundle.is_file():
        raise ProfileError(f"{source}: policy.tls.ca_bundle: {bundle} is not a file {where}")


def validate_profile(data: Mapping[str, Any], source: Path) -> Profile:
    """Validate already merged profile data; relative paths resolve against `source`'s folder."""
    resolved = _resolve_paths(dict(data), source.parent.resolve())
    try:
        profile = Profile.model_validate(resolved)
    except ValidationError as error:
        raise ProfileError(_describe(error, source)) from None
    _check_paths(profile, source)
    profile._source = source
    return profile


def load_profile(path: Path, *overlays: Mapping[str, Any]) -> Profile:
    """Load `path`, deep-merge each overlay over it in order, and validate the result."""
    data: dict[str, Any] = read_toml(path)
    for overlay in overlays:
        data = deep_merge(data, overlay)
    return validate_profile(data, path)
