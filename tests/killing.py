"""A test-only pytest plugin for the suites: SIGKILL a service of the shared stack mid-run.

`-p killing --kill-after=<test name>:<service>`: once that test is done, the service of its
`stack` gets SIGKILL from outside, as a crash would (not through the harness's own service
control, whose stops a stack does not count as failures), and the plugin waits, with a
deadline, until the stack has noticed (`Stack.failure()`).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Generator
from dataclasses import dataclass

import pytest

from stackproof.backends import Stack
from stackproof.readiness import Check, wait_for

NOTICED_WITHIN_S = 10.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kill-after", default=None, help="TEST:SERVICE to SIGKILL after TEST")


@dataclass(frozen=True)
class Noticed:
    stack: Stack
    service: str

    @property
    def description(self) -> str:
        return f"stack {self.stack.label!r} notices that {self.service} is gone"

    def check(self) -> Check:
        failure = self.stack.failure()
        return Check(failure is not None, "noticed" if failure else "not yet")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    spec = item.config.getoption("--kill-after")
    test, _, service = (spec or "").partition(":")
    stack = getattr(item, "funcargs", {}).get("stack")
    yield
    if item.name != test or not isinstance(stack, Stack):
        return
    pid = stack.service(service).pid
    assert pid is not None, f"{service} has no process to kill"
    os.kill(pid, signal.SIGKILL)
    wait_for(Noticed(stack, service), timeout_s=NOTICED_WITHIN_S, what="the stack's failure()")
