"""Readiness that tells the truth about files it depends on (R-HLT-3)."""

from __future__ import annotations

import pytest

from stackproof.backends import Stack
from stackproof.checks.evidence import Evidence
from stackproof.checks.filedeps import taken_away
from stackproof.checks.health import health_endpoint
from stackproof.checks.needs import nothing_to_check
from stackproof.checks.problems import Problems
from stackproof.checks.restarts import RestartWatch, skip_unjudged
from stackproof.errors import CapabilityMissingError, PreconditionError
from stackproof.profile import Profile
from stackproof.profile.model import FileDependency


def _hard_files(profile: Profile) -> list[tuple[str, FileDependency]]:
    return [
        (name, dependency)
        for name, service in profile.services.items()
        if service.health.readiness
        for dependency in service.health.depends_on_files
        if dependency.kind == "hard"
    ]


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-3")
@pytest.mark.needs("dependency_files", "hard_file_dependency")
def test_readiness_follows_a_hard_file_dependency_away_and_back(
    own_stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    """Take each hard dependency file away: readiness 503 in time while liveness stays 200,
    then readiness 200 in time once the file is back, with no restart."""
    policy = profile.policy.health
    dependencies = _hard_files(profile)
    if not dependencies:
        nothing_to_check(
            "no service with a readiness endpoint names a hard file dependency",
            enable='services.<name>.health.depends_on_files with kind = "hard"',
        )
    try:
        files = own_stack.files()
    except CapabilityMissingError as error:
        pytest.skip(error.reason())
    problems = Problems("readiness following its files")
    unknown: set[str] = set()
    for name, dependency in dependencies:
        path = own_stack.dependency_file(name, dependency)
        readiness = health_endpoint(own_stack, name, "readiness")
        liveness = (
            health_endpoint(own_stack, name, "liveness")
            if profile.services[name].health.liveness
            else None
        )
        if readiness.await_status({200}, policy.recover_within_s, policy.poll_interval_s) is None:
            raise PreconditionError(f"{name} readiness is not 200 before {path} is taken away")
        restarts = RestartWatch(own_stack, [name])
        unknown |= restarts.unknown
        key = f"{name}:{dependency.name}"
        with taken_away(files, path, dependency):
            took = readiness.await_status({503}, policy.detect_within_s, policy.poll_interval_s)
            if took is None:
                problems.add(key, f"still not 503 {policy.detect_within_s:g} s after {path} went")
            else:
                evidence.figure(
                    f"{name}_detects_{dependency.name}_gone_s",
                    took,
                    "s",
                    objective=policy.detect_within_s,
                    comparison="<=",
                )
            if liveness is not None:
                response, _, error = liveness.answer(policy.liveness_within_s)
                seen = error if response is None else response.status_code
                problems.expect(
                    response is not None and response.status_code == 200,
                    key,
                    f"liveness answered {seen} with {path} gone, expected 200",
                )
        took = readiness.await_status({200}, policy.recover_within_s, policy.poll_interval_s)
        if took is None:
            problems.add(key, f"not 200 again {policy.recover_within_s:g} s after {path} came back")
        else:
            evidence.figure(
                f"{name}_recovers_from_{dependency.name}_s",
                took,
                "s",
                objective=policy.recover_within_s,
                comparison="<=",
            )
        if restarted := restarts.restarted(name):
            problems.add(key, f"{restarted}; readiness must recover in place")
    problems.raise_if_any()
    skip_unjudged(own_stack, unknown, "readiness followed its files in time")
