"""A watcher per run: when the harness ends, however it ends, the run's objects go.

`python -m stackproof.containers.watcher --run-id ID` reads its stdin until end of file.
The harness holds the pipe's other end and never writes to it; the kernel closes it when
the harness exits, SIGKILL included. The watcher then removes every container, network,
volume and per-run image labelled with the run ID, and exits. It runs in a session of its
own (Ctrl-C in the terminal and a kill of the harness's process group miss it). What it
could not remove, `stackproof clean` does (`backends.compose.leftovers`), from the harness's
marker: the run is gone once its harness is.

    with Watcher(run_id, log_path):
        ...  # create labelled objects; on a normal end, remove them, then leave the block
"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from types import FrameType, TracebackType

from stackproof.containers.engine import connect, remove_run
from stackproof.errors import BackendUnavailableError
from stackproof.procs import RUN_ID_ENV, tail

READY = "watching"
START_TIMEOUT_S = 30.0
SWEEP_DEADLINE_S = 120.0


class Watcher:
    """The harness's side: start the watcher, hold its pipe, close it to let it finish."""

    def __init__(self, run_id: str, log_path: Path, harness_id: str | None = None) -> None:
        self.run_id = run_id
        self.harness_id = harness_id
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._pipe: int | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Watcher:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        read_end, write_end = os.pipe()  # both ends close-on-exec: no other child holds one
        # Not a process of the run by its environment: a sweep of the run's leftover
        # processes must not stop it before it has done its job.
        env = {k: v for k, v in os.environ.items() if k != RUN_ID_ENV}
        argv = [sys.executable, "-m", "stackproof.containers.watcher", "--run-id", self.run_id]
        if self.harness_id is not None:
            argv += ["--harness-id", self.harness_id]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                argv,
                stdin=read_end,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                start_new_session=True,
            )
        os.close(read_end)
        self._pipe = write_end
        self._await_ready(timeout_s)
        return self

    def _await_ready(self, timeout_s: float) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            ready = selector.select(timeout_s)
        line = self._process.stdout.readline().decode(errors="replace").strip() if ready else ""
        if line == READY:
            return
        self.stop(timeout_s=10.0)
        error = BackendUnavailableError(
            f"the cleanup watcher of run {self.run_id} did not start"
            + ("" if ready else f" within {timeout_s:.0f} s")
        )
        error.add_note(f"its log ({self.log_path}):\n{tail(self.log_path)}")
        raise error

    def stop(self, timeout_s: float = SWEEP_DEADLINE_S + 10.0) -> int | None:
        """Let the watcher sweep and exit; its exit code (None if it had to be killed)."""
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10.0)
            return None
        finally:
            if self._process.stdout is not None:
                self._process.stdout.close()

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# -- the watcher process ---------------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM or SIGINT sent to the watcher itself: clean up now."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def sweep(
    run_id: str, harness_id: str | None = None, deadline_s: float = SWEEP_DEADLINE_S
) -> list[str]:
    """Remove the run's objects until none is left, no progress is made, or the deadline.

    More than one pass: a Compose process of the dead harness may still be creating some.
    Returns what could not be removed.
    """
    started = time.monotonic()
    problems: list[str] = []
    with closing(connect()) as client:
        while time.monotonic() - started < deadline_s:
            found, problems = remove_run(client, run_id, harness_id)
            for item in found:
                print(f"watcher: removed {item.describe()}", file=sys.stderr)
            if not found or len(problems) == len(found):
                break
    return problems


def _wait_for_end_of_input() -> None:
    while sys.stdin.buffer.read(4096):
        pass  # the harness never writes; anything read is ignored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackproof.containers.watcher")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--harness-id", help="only the objects this harness made")
    args = parser.parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _stop)
    try:
        connect().close()  # no engine: say so now, while the harness is listening
        print(READY, flush=True)
        try:
            _wait_for_end_of_input()
        except _Stop as stop:
            print(f"watcher: {stop}: cleaning up run {args.run_id}", file=sys.stderr)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # the sweep runs to its end
        problems = sweep(args.run_id, args.harness_id)
    except BackendUnavailableError as error:
        print(f"watcher: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"watcher: left {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
