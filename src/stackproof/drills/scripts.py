"""Run a stack's operations scripts as cron or CI would, and read what they did.

The backend starts each script where the stack runs them (`Stack.start_script`), with its
output in the stack's log folder here and its events (`OPS_EVENTS`, JSON lines, a file on
the stack's side) read back through the stack's `FileAccess` for timelines.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from stackproof.backends.base import FileAccess, OpsAccess, ScriptProcess, Stack

OUTPUT_TAIL_LINES = 40
_numbers = itertools.count(1)


@dataclass(frozen=True, slots=True)
class ScriptResult:
    operation: str
    argv: tuple[str, ...]
    exit_code: int | None  # None: it did not finish and was killed
    output: str
    events: tuple[dict[str, Any], ...]
    started: float  # monotonic
    ended: float

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def event(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("event") == name), None)

    def describe(self) -> str:
        status = "killed" if self.exit_code is None else f"exit {self.exit_code}"
        return f"`{' '.join(self.argv[-3:])}` ({self.operation}): {status}\n{self.output}"

    def evidence(self) -> dict[str, Any]:
        return {
            "command": list(self.argv),
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "output": self.output,
        }


def read_events(files: FileAccess, path: PurePosixPath) -> tuple[dict[str, Any], ...]:
    if files.stat(path) is None:
        return ()
    lines = files.read_bytes(path).decode("utf-8").splitlines()
    return tuple(json.loads(line) for line in lines if line.strip())


class RunningScript:
    def __init__(
        self, operation: str, process: ScriptProcess, files: FileAccess, events: PurePosixPath
    ) -> None:
        self.operation = operation
        self.process = process
        self.files = files
        self.events_path = events
        self.started = time.monotonic()
        self.ended: float | None = None

    def exited(self) -> bool:
        if self.ended is None and not self.process.running():
            self.ended = time.monotonic()
        return self.ended is not None

    def events(self) -> tuple[dict[str, Any], ...]:
        return read_events(self.files, self.events_path)

    def wait(self, timeout_s: float) -> ScriptResult:
        """Its result; past the deadline it is killed and its exit code is None."""
        try:
            code: int | None = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            code = None
        self.exited()
        return self.result(code)

    def kill(self) -> None:
        """SIGKILL the script and everything it started (its process group)."""
        self.process.kill()
        self.exited()

    def result(self, code: int | None) -> ScriptResult:
        return ScriptResult(
            operation=self.operation,
            argv=self.process.argv,
            exit_code=code,
            output=self.process.log_tail(OUTPUT_TAIL_LINES),
            events=self.events(),
            started=self.started,
            ended=self.ended or time.monotonic(),
        )


class OpsScripts:
    """The profile's ops scripts for one stack."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.ops: OpsAccess = stack.ops()
        self.files = stack.files()
        self._logs = stack.run.logs_dir(stack.label)

    def start(self, operation: str, *args: str) -> RunningScript:
        number = next(_numbers)
        events = self.ops.folder / "events" / f"{operation}-{number}.jsonl"
        process = self.stack.start_script(
            operation,
            args,
            {"OPS_EVENTS": str(events)},
            self._logs / f"ops.{operation}.{number}.log",
        )
        return RunningScript(operation, process, self.files, events)

    def run(self, operation: str, *args: str, timeout_s: float) -> ScriptResult:
        running = self.start(operation, *args)
        try:
            return running.wait(timeout_s)
        finally:
            running.process.stop(timeout_s=2.0)  # already gone unless interrupted
