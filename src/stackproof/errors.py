"""Errors a user can act on. Each message says what is wrong and what to do."""

from __future__ import annotations

import re


class StackproofError(Exception):
    """Base of every error stackproof raises on purpose."""


class ProfileError(StackproofError):
    """The profile is invalid; raised before anything starts."""


class MissingBinaryError(StackproofError):
    """A server binary the stack needs cannot be found."""


class BackendUnavailableError(StackproofError):
    """The chosen backend cannot run here (no Docker engine, unreachable host, ...)."""


class ServiceStartError(StackproofError):
    """A service did not start or did not become ready."""


class ReadinessTimeoutError(ServiceStartError):
    """A readiness wait reached its deadline."""


class WaitCancelledError(ServiceStartError):
    """A readiness wait was ended from outside (another wait failed, or Ctrl-C)."""


class MutantError(StackproofError):
    """A mutant cannot be applied to the stack it names."""


_TO_ENABLE = re.compile(r"^(?P<why>.*) \(to enable: (?P<enable>.+)\)$", re.DOTALL)


def split_enable(reason: str) -> tuple[str, str | None]:
    """A skip reason's why, and its "(to enable: ...)" hint where it gives one."""
    found = _TO_ENABLE.match(reason)
    return (found["why"], found["enable"]) if found else (reason, None)


class CapabilityMissingError(StackproofError, NotImplementedError):
    """The backend or profile cannot give what a check needs: the check skips, saying why.

    `enable` names what would make it possible (a profile key, a backend), for the skip
    reason and for `stackproof plan`.
    """

    def __init__(self, message: str, *, enable: str | None = None) -> None:
        super().__init__(message)
        self.enable = enable

    def reason(self) -> str:
        return f"{self} (to enable: {self.enable})" if self.enable else str(self)


class PreconditionError(StackproofError):
    """What a check needs before it can judge did not hold (a steady state before a fault, an
    endpoint that cannot be reached): the check's verdict is `error`, never `fail`."""


class StackBrokenError(StackproofError):
    """A service of the stack exited on its own after the stack was up: every later check of
    that stack is `error` with this one cause."""
