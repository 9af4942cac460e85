"""Fixtures of the rollback and backup suites: ops scripts, deploy targets, restore drills."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.needs import require
from stackproof.drills.deploys import DeployTarget
from stackproof.drills.restore import DrillSeries, run_drills
from stackproof.drills.scripts import OpsScripts
from stackproof.profile import Profile
from stackproof.pytest_plugin.session import RunSession


def _profile_has_ops(profile: Profile, *, deploys: bool = False) -> None:
    """Skip before any stack is made when the profile gives nothing to drill."""
    __tracebackhide__ = True
    if profile.ops is None:
        pytest.skip("the profile names no operations scripts ([ops])")
    if deploys and not profile.ops.deploy_services:
        pytest.skip("the profile names no service deployed as releases (ops.deploy_services)")


def _needs_ops(stack: Stack) -> None:
    __tracebackhide__ = True
    require(stack, Capability.OPS)
    _profile_has_ops(stack.profile)


@pytest.fixture
def ops_scripts(profile: Profile, request: pytest.FixtureRequest) -> OpsScripts:
    """The shared stack's ops scripts (for checks that leave the stack as it was)."""
    _profile_has_ops(profile)
    stack: Stack = request.getfixturevalue("stack")
    _needs_ops(stack)
    return OpsScripts(stack)


@pytest.fixture
def own_ops_scripts(profile: Profile, request: pytest.FixtureRequest) -> OpsScripts:
    _profile_has_ops(profile)
    stack: Stack = request.getfixturevalue("own_stack")
    _needs_ops(stack)
    return OpsScripts(stack)


@pytest.fixture
def deploy_target(
    profile: Profile, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[DeployTarget]:
    """The first service the profile deploys as releases, on a stack of the test's own,
    ready before the drill; what the drill shipped to the stack's side is removed after."""
    _profile_has_ops(profile, deploys=True)
    stack: Stack = request.getfixturevalue("own_stack")
    _needs_ops(stack)
    target = DeployTarget.first_of(stack, tmp_path / "artifacts")
    try:
        target.require_ready("before the drill")
        yield target
    finally:
        target.close()


@pytest.fixture(scope="module")
def _restore_drill_series(run_session: RunSession) -> Iterator[DrillSeries]:
    _profile_has_ops(run_session.profile)
    if run_session.profile.canary is None:
        pytest.skip("the profile names no [canary] to measure RPO with")
    with run_session.stack(run_session.next_label("restore-drills")) as drilled:
        _needs_ops(drilled)
        yield run_drills(drilled)


@pytest.fixture
def restore_drills(request: pytest.FixtureRequest) -> DrillSeries:
    """N restore drills on one stack of their own, shared by the tests of a module."""
    if request.node.get_closest_marker("destructive") is None:
        raise pytest.UsageError(f"{request.node.nodeid}: restore drills are destructive")
    series: DrillSeries = request.getfixturevalue("_restore_drill_series")
    return series
