"""One run: its ID, its report folder, the secrets it planted, and what it created.

The manifest (`manifest.jsonl` in the run folder) records every process, port and temporary
folder the run creates, as it creates them, so a test can prove none is left afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets as random_source
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_ID_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$|^[A-Za-z0-9][\w.-]{0,63}$")


def new_run_id(now: dt.datetime | None = None) -> str:
    moment = now or dt.datetime.now(dt.UTC)
    return f"{moment:%Y%m%dT%H%M%SZ}-{random_source.token_hex(3)}"


class SecretRegistry:
    """Every secret value the run planted or generated, to keep them out of reports."""

    MIN_LENGTH = 6  # shorter values would match ordinary text

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, label: str, value: str) -> str:
        if len(value) >= self.MIN_LENGTH:
            with self._lock:
                self._values[value] = label
        return value

    def generate(self, label: str, nbytes: int = 18) -> str:
        return self.add(label, random_source.token_urlsafe(nbytes))

    def scrub(self, text: str) -> tuple[str, list[str]]:
        """Replace every known secret in `text`; return the text and the labels found."""
        found: list[str] = []
        with self._lock:
            known = sorted(self._values.items(), key=lambda item: -len(item[0]))
        for value, label in known:
            if value in text:
                found.append(label)
                text = text.replace(value, f"[secret:{label}]")
        return text, found

    def items(self) -> list[tuple[str, str]]:
        """(label, value) of every secret registered so far: the canaries a leak scan seeks."""
        with self._lock:
            return [(label, value) for value, label in self._values.items()]

    def __len__(self) -> int:
        return len(self._values)


@dataclass
class RunContext:
    run_id: str
    run_dir: Path
    secrets: SecretRegistry = field(default_factory=SecretRegistry)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not RUN_ID_PATTERN.match(self.run_id):
            raise ValueError(f"run id {self.run_id!r}: use letters, digits, '.', '_' or '-'")
        # Absolute: services get these paths with working folders of their own.
        self.run_dir = self.run_dir.resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)

    @property
    def manifest_path(self) -> Path:
        return self.run_dir / "manifest.jsonl"

    def logs_dir(self, stack_label: str) -> Path:
        folder = (
            self.run_dir / "logs" if stack_label == "main" else self.run_dir / "logs" / stack_label
        )
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def record(self, kind: str, **facts: Any) -> None:
        line = json.dumps({"kind": kind, **facts}, default=str)
        with self._lock, self.manifest_path.open("a", encoding="utf-8") as manifest:
            manifest.write(line + "\n")


def read_manifest(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
