"""The scripts' configuration: one TOML file, named by `--config` or `OPS_CONFIG`.

It holds database passwords, so keep it mode 0600 (the scripts warn otherwise). Every
script reads only the tables it needs; a missing or mistyped key is an error naming it.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_VAR = "OPS_CONFIG"


class ConfigError(Exception):
    """The configuration is missing or wrong; the message names the key."""


class Config:
    def __init__(self, data: Mapping[str, Any], source: Path) -> None:
        self.data = data
        self.source = source

    @classmethod
    def load(cls, path: str | Path | None) -> Config:
        chosen = path or os.environ.get(ENV_VAR)
        if not chosen:
            raise ConfigError(f"no configuration: pass --config FILE or set {ENV_VAR}")
        source = Path(chosen)
        try:
            with source.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"{source}: no such configuration file") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{source}: not valid TOML: {error}") from None
        if source.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(f"warning: {source} is readable by others; make it mode 0600", file=sys.stderr)
        return cls(data, source)

    def _node(self, dotted: str) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"{self.source}: {dotted} is missing")
            node = node[part]
        return node

    def has(self, dotted: str) -> bool:
        try:
            self._node(dotted)
        except ConfigError:
            return False
        return True

    def text(self, dotted: str, default: str | None = None) -> str:
        if default is not None and not self.has(dotted):
            return default
        value = self._node(dotted)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{self.source}: {dotted} must be a non-empty string")
        return value

    def path(self, dotted: str) -> Path:
        return Path(self.text(dotted))

    def number(self, dotted: str, default: float | None = None) -> float:
        if default is not None and not self.has(dotted):
            return default
        value = self._node(dotted)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{self.source}: {dotted} must be a positive number")
        return float(value)

    def texts(self, dotted: str, default: list[str] | None = None) -> list[str]:
        if default is not None and not self.has(dotted):
            return default
        value = self._node(dotted)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.source}: {dotted} must be a list of strings")
        return list(value)

    def table(self, dotted: str) -> Mapping[str, Any]:
        value = self._node(dotted)
        if not isinstance(value, Mapping):
            raise ConfigError(f"{self.source}: {dotted} must be a table")
        return value

    def tables(self, dotted: str) -> list[Mapping[str, Any]]:
        if not self.has(dotted):
            return []
        value = self._node(dotted)
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise ConfigError(f"{self.source}: {dotted} must be an array of tables")
        return list(value)

    def command(self, dotted: str) -> list[str]:
        """An argv prefix: a string (split like a shell would) or a list of strings."""
        value = self._node(dotted)
        if isinstance(value, str) and value.strip():
            return shlex.split(value)
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return list(value)
        raise ConfigError(f"{self.source}: {dotted} must be a command (string or list)")
