"""`svcctl`: the service-control command the process backend gives operations scripts.

    svcctl --socket PATH start|stop|restart|status SERVICE... [--wait] [--timeout SECONDS]

Exit status: 0 done (for `status`: every service named runs), 3 `status` of a service that
does not run, 1 the request failed (the reason goes to stderr), 2 bad usage. Each stack writes a
ready-made shim, `<ops folder>/svcctl`, with its socket filled in.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ACTIONS = frozenset({"start", "stop", "restart", "status"})
NOT_RUNNING = 3
DEFAULT_TIMEOUT_S = 300.0


def request(path: Path, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout_s)
        client.connect(str(path))
        client.sendall(json.dumps(payload).encode() + b"\n")
        with client.makefile("rb") as answers:
            line = answers.readline()
    if not line:
        raise ConnectionError("the stack closed the connection without an answer")
    answer: dict[str, Any] = json.loads(line)
    return answer


def describe(answer: dict[str, Any]) -> str:
    state = str(answer.get("state", "?"))
    if answer.get("pid") is not None:
        state += f" pid={answer['pid']}"
    if answer.get("exit_code") is not None:
        state += f" exit_code={answer['exit_code']}"
    return state


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="svcctl", description=__doc__.splitlines()[0])
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("action", choices=sorted(ACTIONS))
    parser.add_argument("services", nargs="+", metavar="SERVICE")
    parser.add_argument("--wait", action="store_true", help="return once the service is ready")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    args = parser.parse_args(argv)
    payload = {"action": args.action, "service": args.services, "wait": args.wait}
    try:
        answer = request(args.socket, payload, args.timeout)
    except (OSError, ValueError) as error:
        print(f"svcctl: cannot reach the stack at {args.socket}: {error}", file=sys.stderr)
        return 1
    named = " ".join(args.services)
    if not answer.get("ok"):
        print(f"svcctl: {args.action} {named}: {answer.get('error')}", file=sys.stderr)
        return 1
    states: dict[str, dict[str, Any]] = answer.get("services", {})
    for service, state in states.items():
        print(f"{service}: {describe(state)}")
    if args.action == "status" and any(s.get("state") != "running" for s in states.values()):
        return NOT_RUNNING
    return 0


if __name__ == "__main__":
    sys.exit(main())
