"""Other instances of the same false verdicts, found reading the suites: a check that would
pass (or fail) on an empty loop, a connection that could not be made reported as a finding,
a precondition that did not hold reported as one."""

from __future__ import annotations

import socket

import httpx
import pytest
from support import REFERENCE

from stackproof.backends.values import Endpoint, PublicFront
from stackproof.checks.evidence import Evidence
from stackproof.checks.health import health_line_pattern
from stackproof.checks.http import FrontClient, sent_or_cut
from stackproof.checks.problems import Problems
from stackproof.checks.ratelimit import Exhausted, check_exhausted
from stackproof.errors import PreconditionError
from stackproof.profile import load_profile


def test_health_paths_in_logs_with_no_health_path_match_nothing() -> None:
    """An empty alternation matched every log line: each became "a health request logged"."""
    assert health_line_pattern([]) is None
    pattern = health_line_pattern(["/healthz", "/bot/readyz"])
    assert pattern is not None
    assert pattern.search('GET /healthz HTTP/1.1" 200')
    assert not pattern.search('GET /healthzz HTTP/1.1" 200')
    assert not pattern.search("INFO started")


def _over(status: int) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("GET", "https://localhost/auth/"))


def test_a_limit_that_cannot_be_judged_in_its_window_is_an_error() -> None:
    """61 requests that took longer than the window say nothing about the limit."""
    profile = load_profile(REFERENCE)
    slow = Exhausted(tuple([200] * 60), _over(200), elapsed_s=61.0)
    with pytest.raises(PreconditionError, match="cannot be judged"):
        check_exhausted(slow, profile, Problems("x"), Evidence("t"))
    problems = Problems("x")
    check_exhausted(Exhausted(tuple([200] * 60), _over(200), 3.0), profile, problems, Evidence("t"))
    assert "expected 429" in problems.report()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_front_that_refuses_the_connection_is_not_a_reset_after_the_request() -> None:
    """R-SIG-1: a reset or dropped connection after a malformed request is the finding; a
    front that cannot be reached at all keeps the check from judging."""
    front = PublicFront("localhost", Endpoint("127.0.0.1", _closed_port()), None, None)
    with FrontClient(front) as client, pytest.raises(PreconditionError, match="cannot reach"):
        sent_or_cut(client, "POST", "/bot/interactions", headers={}, content=b"{}")
