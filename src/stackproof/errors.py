"""Errors a user can act on. Each message says what is wrong and what to do."""

from __future__ import annotations


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
