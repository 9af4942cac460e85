"""A service started by hand (a trial start, a start without a setting) whose command could
not run at all judged nothing about the service: that is the harness's or the profile's
error, never the service's failure."""

from __future__ import annotations

from stackproof.errors import PreconditionError

# The shells' and env's exit statuses for a command that never ran.
NEVER_RAN = {126: "found but not executable", 127: "not found"}


def require_command_ran(exit_code: int | None, output: str, what: str) -> None:
    if exit_code in NEVER_RAN:
        raise PreconditionError(
            f"{what}: its command did not run (exit {exit_code}: {NEVER_RAN[exit_code]}), so "
            f"nothing was judged; it said: {output[-300:].strip()!r}"
        )
