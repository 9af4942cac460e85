"""Readiness that tells the truth about the settings it depends on: the service restarted
without a hard one answers readiness 503 (R-HLT-3), without a soft one it stays ready and
reports the degradation (R-HLT-5); with the setting back it is ready again."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager

import pytest

from stackproof.backends import Stack
from stackproof.backends.values import TrialStart
from stackproof.checks.evidence import Evidence
from stackproof.checks.health import HealthEndpoint, StatusClock, health_endpoint
from stackproof.checks.needs import nothing_to_check
from stackproof.checks.problems import Problems
from stackproof.checks.softdeps import judge_degraded, steady_body
from stackproof.errors import CapabilityMissingError, PreconditionError
from stackproof.profile import Profile
from stackproof.profile.model import SettingDependency


def _settings_or_skip(profile: Profile, kind: str) -> list[tuple[str, SettingDependency]]:
    __tracebackhide__ = True
    found = [
        (name, dependency)
        for name, service in profile.services.items()
        if service.health.readiness
        for dependency in service.health.depends_on_settings
        if dependency.kind == kind
    ]
    if not found:
        nothing_to_check(
            f"no service with a readiness endpoint names a {kind} setting dependency",
            enable=f'services.<name>.health.depends_on_settings with kind = "{kind}"',
        )
    return found


def _without(dependency: SettingDependency) -> Mapping[str, str | None]:
    return {dependency.env: None if dependency.take_away == "unset" else ""}


def _away(dependency: SettingDependency) -> str:
    return f"{dependency.env} {'unset' if dependency.take_away == 'unset' else 'empty'}"


def _ready(readiness: HealthEndpoint, profile: Profile, when: str) -> None:
    policy = profile.policy.health
    if readiness.await_status({200}, policy.recover_within_s, policy.poll_interval_s) is None:
        raise PreconditionError(f"{readiness.service} readiness is not 200 {when}")


def _did_not_run(started: TrialStart, away: str) -> str:
    how = "kept from listening" if started.exit_code is None else f"exited ({started.exit_code})"
    lines = started.output.strip().splitlines()
    tail = lines[-1][:300] if lines else "no output"  # the error it ended with
    return f"it {how} with {away}, instead of running: {tail}"


def _restarted_with(
    stack: Stack, name: str, env: Mapping[str, str | None]
) -> AbstractContextManager[TrialStart | None]:
    __tracebackhide__ = True
    try:
        return stack.service(name).restarted_with(env)
    except CapabilityMissingError as error:
        pytest.skip(error.reason())


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-3")
@pytest.mark.needs("setting_changes", "hard_setting_dependency")
def test_readiness_answers_503_without_a_hard_setting_and_200_with_it_back(
    own_stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    """Restart each service without each hard setting: it runs, liveness 200, readiness 503
    in time; restarted with the setting, readiness 200 again."""
    policy = profile.policy.health
    dependencies = _settings_or_skip(profile, "hard")
    problems = Problems("readiness without its settings")
    clock = StatusClock(problems, evidence, policy.poll_interval_s)
    for name, dependency in dependencies:
        readiness = health_endpoint(own_stack, name, "readiness")
        liveness = (
            health_endpoint(own_stack, name, "liveness")
            if profile.services[name].health.liveness
            else None
        )
        away = _away(dependency)
        key = f"{name}:{dependency.name}"
        _ready(readiness, profile, f"before it restarts with {away}")
        with _restarted_with(own_stack, name, _without(dependency)) as started:
            if started is not None:
                evidence.add(f"{name} with {away}", started.output[-600:])
                problems.add(key, _did_not_run(started, away) + "; readiness must answer 503")
            else:
                clock.until(
                    readiness,
                    {503},
                    policy.detect_within_s,
                    key=key,
                    missed=f"readiness not 503 {policy.detect_within_s:g} s after it "
                    f"listened with {away}",
                    figure=f"{name}_unready_without_{dependency.name}_s",
                )
                if liveness is not None:
                    response, _, error = liveness.answer(policy.liveness_within_s)
                    seen = error if response is None else response.status_code
                    problems.expect(
                        response is not None and response.status_code == 200,
                        key,
                        f"liveness answered {seen} with {away}, expected 200",
                    )
        # Restarted as the profile runs it, ready by the backend's own start condition.
        clock.until(
            readiness,
            {200},
            policy.recover_within_s,
            key=key,
            missed=f"not 200 {policy.recover_within_s:g} s after it restarted with "
            f"{dependency.env} back",
            figure=f"{name}_ready_with_{dependency.name}_back_s",
        )
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-5")
@pytest.mark.needs("setting_changes", "soft_setting_dependency")
def test_a_soft_setting_taken_away_keeps_readiness_and_reports_degradation(
    own_stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    """Restart each service without each soft setting: it becomes ready in time, stays 200
    throughout (as long as a hard dependency's failure may take to show) and its body
    reports the setting degraded; restarted with it, the body is the steady one again."""
    policy = profile.policy.health
    dependencies = _settings_or_skip(profile, "soft")
    problems = Problems("readiness without its soft settings")
    clock = StatusClock(problems, evidence, policy.poll_interval_s)
    for name, dependency in dependencies:
        readiness = health_endpoint(own_stack, name, "readiness")
        away = _away(dependency)
        key = f"{name}:{dependency.name}"
        _ready(readiness, profile, f"before it restarts with {away}")
        steady = steady_body(readiness)
        evidence.add(f"{name} readiness body with {dependency.env} set", steady[:400])
        with _restarted_with(own_stack, name, _without(dependency)) as started:
            if started is not None:
                evidence.add(f"{name} with {away}", started.output[-600:])
                problems.add(key, _did_not_run(started, away) + "; it must stay ready")
            elif (
                clock.until(
                    readiness,
                    {200},
                    policy.recover_within_s,
                    key=key,
                    missed=f"readiness not 200 {policy.recover_within_s:g} s after it listened "
                    f"with {away}",
                    figure=f"{name}_ready_without_{dependency.name}_s",
                )
                is not None
            ):
                judge_degraded(
                    readiness,
                    steady,
                    [dependency.name],
                    window_s=policy.detect_within_s,
                    interval_s=policy.poll_interval_s,
                    problems=problems,
                    evidence=evidence,
                    key=key,
                    away=away,
                )
        clock.until(
            readiness,
            {200},
            policy.recover_within_s,
            key=key,
            missed=f"its readiness body still differs from the steady one "
            f"{policy.recover_within_s:g} s after it restarted with {dependency.env} back",
            figure=f"{name}_steady_with_{dependency.name}_back_s",
            body=steady,
        )
    problems.raise_if_any()
