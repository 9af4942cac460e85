"""Readiness that tells the truth about files it depends on: a hard one taken away turns it
503 (R-HLT-3), a soft one leaves it 200 reporting the degradation (R-HLT-5)."""

from __future__ import annotations

import pytest

from stackproof.backends import Stack
from stackproof.backends.base import FileAccess
from stackproof.checks.evidence import Evidence
from stackproof.checks.filedeps import taken_away
from stackproof.checks.health import HealthEndpoint, StatusClock, health_endpoint
from stackproof.checks.needs import nothing_to_check
from stackproof.checks.problems import Problems
from stackproof.checks.restarts import RestartWatch, skip_unjudged
from stackproof.checks.softdeps import judge_degraded, steady_body
from stackproof.errors import CapabilityMissingError, PreconditionError
from stackproof.profile import Profile
from stackproof.profile.model import FileDependency


def _files(profile: Profile, kind: str) -> list[tuple[str, FileDependency]]:
    return [
        (name, dependency)
        for name, service in profile.services.items()
        if service.health.readiness
        for dependency in service.health.depends_on_files
        if dependency.kind == kind
    ]


def _dependencies_or_skip(profile: Profile, kind: str) -> list[tuple[str, FileDependency]]:
    __tracebackhide__ = True
    dependencies = _files(profile, kind)
    if not dependencies:
        nothing_to_check(
            f"no service with a readiness endpoint names a {kind} file dependency",
            enable=f'services.<name>.health.depends_on_files with kind = "{kind}"',
        )
    return dependencies


def _files_or_skip(stack: Stack) -> FileAccess:
    __tracebackhide__ = True
    try:
        return stack.files()
    except CapabilityMissingError as error:
        pytest.skip(error.reason())


def _ready_before(readiness: HealthEndpoint, profile: Profile, what: str) -> None:
    policy = profile.policy.health
    if readiness.await_status({200}, policy.recover_within_s, policy.poll_interval_s) is None:
        raise PreconditionError(f"{readiness.service} readiness is not 200 before {what}")


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-3")
@pytest.mark.needs("dependency_files", "hard_file_dependency")
def test_readiness_follows_a_hard_file_dependency_away_and_back(
    own_stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    """Take each hard dependency file away: readiness 503 in time while liveness stays 200,
    then readiness 200 in time once the file is back, with no restart."""
    policy = profile.policy.health
    dependencies = _dependencies_or_skip(profile, "hard")
    files = _files_or_skip(own_stack)
    problems = Problems("readiness following its files")
    clock = StatusClock(problems, evidence, policy.poll_interval_s)
    unknown: set[str] = set()
    for name, dependency in dependencies:
        path = own_stack.dependency_file(name, dependency)
        readiness = health_endpoint(own_stack, name, "readiness")
        liveness = (
            health_endpoint(own_stack, name, "liveness")
            if profile.services[name].health.liveness
            else None
        )
        _ready_before(readiness, profile, f"{path} is taken away")
        restarts = RestartWatch(own_stack, [name])
        unknown |= restarts.unknown
        key = f"{name}:{dependency.name}"
        with taken_away(files, path, dependency):
            clock.until(
                readiness,
                {503},
                policy.detect_within_s,
                key=key,
                missed=f"still not 503 {policy.detect_within_s:g} s after {path} went",
                figure=f"{name}_detects_{dependency.name}_gone_s",
            )
            if liveness is not None:
                response, _, error = liveness.answer(policy.liveness_within_s)
                seen = error if response is None else response.status_code
                problems.expect(
                    response is not None and response.status_code == 200,
                    key,
                    f"liveness answered {seen} with {path} gone, expected 200",
                )
        clock.until(
            readiness,
            {200},
            policy.recover_within_s,
            key=key,
            missed=f"not 200 again {policy.recover_within_s:g} s after {path} came back",
            figure=f"{name}_recovers_from_{dependency.name}_s",
        )
        if restarted := restarts.restarted(name):
            problems.add(key, f"{restarted}; readiness must recover in place")
    problems.raise_if_any()
    skip_unjudged(own_stack, unknown, "readiness followed its files in time")


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-5")
@pytest.mark.needs("dependency_files", "soft_file_dependency")
def test_a_soft_file_dependency_gone_keeps_readiness_and_reports_degradation(
    own_stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    """Take each soft dependency file away: readiness stays 200 throughout (as long as a
    hard dependency's failure may take to show) and its body reports the file degraded;
    once the file is back, the body is the steady one again in time, with no restart."""
    policy = profile.policy.health
    dependencies = _dependencies_or_skip(profile, "soft")
    files = _files_or_skip(own_stack)
    problems = Problems("readiness with a soft file gone")
    clock = StatusClock(problems, evidence, policy.poll_interval_s)
    unknown: set[str] = set()
    for name, dependency in dependencies:
        path = own_stack.dependency_file(name, dependency)
        readiness = health_endpoint(own_stack, name, "readiness")
        _ready_before(readiness, profile, f"{path} is taken away")
        steady = steady_body(readiness)
        evidence.add(f"{name} readiness body with {path} in place", steady[:400])
        restarts = RestartWatch(own_stack, [name])
        unknown |= restarts.unknown
        key = f"{name}:{dependency.name}"
        with taken_away(files, path, dependency):
            judge_degraded(
                readiness,
                steady,
                [dependency.name],
                window_s=policy.detect_within_s,
                interval_s=policy.poll_interval_s,
                problems=problems,
                evidence=evidence,
                key=key,
                away=f"{path} gone",
            )
        clock.until(
            readiness,
            {200},
            policy.recover_within_s,
            key=key,
            missed=f"its readiness body still differs from the steady one "
            f"{policy.recover_within_s:g} s after {path} came back",
            figure=f"{name}_recovers_from_{dependency.name}_s",
            body=steady,
        )
        if restarted := restarts.restarted(name):
            problems.add(key, f"{restarted}; a soft dependency must not restart the service")
    problems.raise_if_any()
    skip_unjudged(own_stack, unknown, "readiness stayed 200 and reported its soft files")
