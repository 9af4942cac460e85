"""Run a stack's operations scripts as cron or CI would, and read what they did.

Each run is a process of the run (its own session, the run ID in its environment, killed
with the harness), with its output in the stack's log folder and its events (`OPS_EVENTS`,
JSON lines) read back for timelines.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackproof.backends.base import OpsAccess, Stack
from stackproof.procs import ManagedProcess, ProcessSpec

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


def read_events(path: Path) -> tuple[dict[str, Any], ...]:
    if not path.exists():
        return ()
    lines = path.read_text("utf-8").splitlines()
    return tuple(json.loads(line) for line in lines if line.strip())


class RunningScript:
    def __init__(self, operation: str, process: ManagedProcess, events: Path) -> None:
        self.operation = operation
        self.process = process
        self.events_path = events
        self.started = time.monotonic()
        self.ended: float | None = None

    def exited(self) -> bool:
        if self.ended is None and not self.process.running():
            self.ended = time.monotonic()
        return self.ended is not None

    def events(self) -> tuple[dict[str, Any], ...]:
        return read_events(self.events_path)

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
            argv=self.process.spec.argv,
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
        self._logs = stack.run.logs_dir(stack.label)

    def start(self, operation: str, *args: str) -> RunningScript:
        number = next(_numbers)
        events = self.ops.folder / "events" / f"{operation}-{number}.jsonl"
        events.parent.mkdir(exist_ok=True)
        spec = ProcessSpec(
            name=f"ops.{operation}.{number}",
            argv=tuple(self.ops.command(operation, *args)),
            env={**self.ops.env, "OPS_EVENTS": str(events)},
            cwd=self.ops.cwd,
            log_path=self._logs / f"ops.{operation}.{number}.log",
        )
        process = ManagedProcess(spec, self.stack.run.run_id)
        process.start()
        self.stack.run.record("process", stack=self.stack.label, service=spec.name, pid=process.pid)
        return RunningScript(operation, process, events)

    def run(self, operation: str, *args: str, timeout_s: float) -> ScriptResult:
        running = self.start(operation, *args)
        try:
            return running.wait(timeout_s)
        finally:
            running.process.stop(timeout_s=2.0)  # already gone unless interrupted
