"""`python -m stackproof.supervisor [options] -- COMMAND...`: run a service, restart it as its
restart policy says (systemd's `Restart=`, for the process backend; R-RES-5).

- The supervisor and the service share a process group, so whoever stops the group stops
  both; a stop signal (SIGTERM, SIGINT, SIGHUP) that reaches the supervisor ends
  supervision, and the service is then not restarted.
- Signals are blocked and taken one at a time with `sigwaitinfo`: a stop and the service's
  death arriving together are handled in the order Linux delivers them (the stop first), so
  a service stopped on purpose is never mistaken for one that crashed.
- The service dies with the supervisor (`PR_SET_PDEATHSIG`), as the supervisor dies with
  the harness.
- More than `--max-restarts` restarts within `--window` seconds and it gives up, exiting
  with the service's status (systemd's start limit).
- Every start and exit is one JSON line in `--events`, for the harness to report.

Standard library only: it starts before every restart of a service, so it starts fast.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
WATCHED = STOP_SIGNALS | {signal.SIGCHLD}
PR_SET_PDEATHSIG = 1
FORWARD_AFTER_S = 2.0  # a stop meant for the supervisor alone reaches the service this late


def _die_with_parent() -> None:
    """In the child before exec: take signals again, and die when the supervisor dies."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, WATCHED)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def describe(status: int) -> str:
    return f"signal {signal.Signals(-status).name}" if status < 0 else f"exit code {status}"


def exit_code(status: int) -> int:
    """A shell's reading of a child's status: 128 + N for death by signal N."""
    return 128 - status if status < 0 else status


class Supervisor:
    def __init__(
        self,
        argv: list[str],
        *,
        name: str,
        policy: str,
        max_restarts: int,
        window_s: float,
        backoff_s: float,
        events: Path | None,
    ) -> None:
        self.argv = argv
        self.name = name
        self.policy = policy
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.backoff_s = backoff_s
        self.events = events
        self._restarts: deque[float] = deque()

    def say(self, message: str) -> None:
        print(f"stackproof-supervisor: {self.name}: {message}", file=sys.stderr, flush=True)

    def record(self, event: str, **facts: object) -> None:
        if self.events is None:
            return
        line = json.dumps({"event": event, "time": time.time(), **facts})
        with self.events.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def spawn(self) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(self.argv, preexec_fn=_die_with_parent)  # noqa: PLW1509 - the supervisor has one thread
        self.record("start", pid=child.pid)
        return child

    def wants_restart(self, status: int) -> bool:
        return self.policy == "always" or (self.policy == "on-failure" and status != 0)

    def within_limit(self) -> bool:
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > self.window_s:
            self._restarts.popleft()
        if len(self._restarts) >= self.max_restarts:
            return False
        self._restarts.append(now)
        return True

    def run(self) -> int:
        child = self.spawn()
        while True:
            taken = signal.sigwaitinfo(WATCHED)
            if taken.si_signo in STOP_SIGNALS:
                return self.stop(child, signal.Signals(taken.si_signo))
            status = child.poll()
            if status is None:
                continue  # a SIGCHLD for something else (a stopped child, say)
            restart = self.wants_restart(status)
            self.record("exit", pid=child.pid, status=status, restart=restart)
            if not restart:
                self.say(f"exited ({describe(status)}); policy {self.policy}: not restarted")
                return exit_code(status)
            if not self.within_limit():
                self.say(
                    f"exited ({describe(status)}); {self.max_restarts} restarts within "
                    f"{self.window_s:g} s already: giving up"
                )
                self.record("give_up", pid=child.pid, status=status)
                return exit_code(status)
            self.say(f"exited ({describe(status)}); restarting in {self.backoff_s:g} s")
            # The backoff is the policy's; a stop signal during it ends supervision at once.
            stop = signal.sigtimedwait(STOP_SIGNALS, self.backoff_s)
            if stop is not None:
                self.record("stop", signal=signal.Signals(stop.si_signo).name)
                return exit_code(status)
            child = self.spawn()

    def stop(self, child: subprocess.Popen[bytes], signum: signal.Signals) -> int:
        """Supervision ends: the group's stop reached the service too; make sure of it."""
        self.record("stop", signal=signum.name)
        exiting = child.poll() is not None or signal.sigtimedwait({signal.SIGCHLD}, FORWARD_AFTER_S)
        if not exiting and child.poll() is None:  # the stop was sent to the supervisor alone
            child.send_signal(signum)
        status = child.wait()
        self.record("exit", pid=child.pid, status=status, restart=False)
        return exit_code(status)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stackproof.supervisor", description=__doc__)
    parser.add_argument("--name", default="service", help="the service's name, for messages")
    parser.add_argument("--policy", choices=["never", "on-failure", "always"], default="on-failure")
    parser.add_argument("--max-restarts", type=int, default=5)
    parser.add_argument("--window", type=float, default=60.0, help="seconds")
    parser.add_argument("--backoff", type=float, default=0.2, help="seconds before a restart")
    parser.add_argument("--events", type=Path, help="JSON lines of starts and exits")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the service's command")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        _parser().error("no command to supervise (put it after --)")
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    supervisor = Supervisor(
        command,
        name=args.name,
        policy=args.policy,
        max_restarts=args.max_restarts,
        window_s=args.window,
        backoff_s=args.backoff,
        events=args.events,
    )
    try:
        return supervisor.run()
    except FileNotFoundError as error:
        supervisor.say(f"cannot run {command[0]!r}: {error.strerror}")
        return 127


if __name__ == "__main__":
    sys.exit(main())
