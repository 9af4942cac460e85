"""Did a service recover in place, or was it restarted? Told by its restart identity.

A backend that cannot tell a service's identity (None before the check) leaves that half
unjudged: `judged_or_skip` then skips the check, saying so, instead of passing it.
"""

from __future__ import annotations

from collections.abc import Iterable

from stackproof.backends.base import Stack
from stackproof.checks.needs import nothing_to_check


class RestartWatch:
    """The identities of `services` now; later, which of them changed."""

    def __init__(self, stack: Stack, services: Iterable[str]) -> None:
        self.stack = stack
        self.before = {name: stack.service(name).identity() for name in services}
        self.unknown = {name for name, identity in self.before.items() if identity is None}

    def restarted(self, name: str) -> str | None:
        """Why `name` was restarted since, or None (also when its identity is unknown)."""
        if name in self.unknown:
            return None
        now = self.stack.service(name).identity()
        if now == self.before[name]:
            return None
        return f"was restarted ({self.before[name]} → {now or 'not running'})"

    def judged_or_skip(self, what: str) -> None:
        """Skip when a service's restart could not be judged; `what` held, it says."""
        skip_unjudged(self.stack, self.unknown, what)


def skip_unjudged(stack: Stack, unknown: Iterable[str], what: str) -> None:
    """Skip, saying `what` held but not whether `unknown` recovered in place; else nothing."""
    if names := sorted(unknown):
        nothing_to_check(
            f"{what}, but {type(stack).__name__} reports no restart identity for "
            f"{', '.join(names)}: whether it recovered without a restart cannot be told",
            enable="a backend whose services report a restart identity (process)",
        )
