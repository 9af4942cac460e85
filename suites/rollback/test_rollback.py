"""Deploys that keep the service up (R-DEP-1..4): the stack's own deploy script, for real.

Each destructive test deploys releases of the profile's first deployable service on a stack
of its own, while a watcher samples the service's readiness, process and release from the
outside: verdicts rest on what the watcher saw, the script's events draw the timeline.
"""

from __future__ import annotations

import statistics

import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.evidence import Evidence
from stackproof.checks.needs import nothing_to_check, require
from stackproof.checks.problems import Problems
from stackproof.drills.deploys import DeployTarget
from stackproof.drills.polling import Polling
from stackproof.drills.scripts import ScriptResult
from stackproof.drills.startorder import start_order_problems
from stackproof.errors import CapabilityMissingError, PreconditionError
from stackproof.profile import Profile


def between(result: ScriptResult, first: str, then: str) -> float | None:
    """Seconds from the script's event `first` to its event `then` (its own clock)."""
    start, end = result.event(first), result.event(then)
    if start is None or end is None:
        return None
    return float(end["t"]) - float(start["t"])


@pytest.mark.requirement("R-DEP-4")
@pytest.mark.needs("control")
def test_services_start_only_after_their_dependencies_are_ready(
    stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    """Given the stack as it came up: every start came after its links were ready."""
    require(stack, Capability.CONTROL)
    try:
        events = stack.lifecycle()
    except CapabilityMissingError as missing:
        pytest.skip(
            f"{missing}, so the order services started in cannot be seen (to enable: a "
            "backend that records when each service started and became ready, such as process)"
        )
    dependencies = {name: service.links for name, service in profile.services.items()}
    problems = Problems("start order")
    for problem in start_order_problems(events, dependencies):
        problems.add("order", problem)
    started = {e.service for e in events if e.kind == "spawn"}
    evidence.add(
        "lifecycle",
        [f"{e.at - events[0].at:7.3f} s {e.service} {e.kind} ({e.by})" for e in events],
    )
    problems.raise_if_any()
    if unseen := [name for name in profile.services if name not in started]:
        raise PreconditionError(
            f"the stack's lifecycle shows no start of {', '.join(unseen)}, so the order of "
            "its starts cannot be judged"
        )


@pytest.mark.destructive
@pytest.mark.requirement("R-DEP-1")
def test_deploy_switches_release_and_keeps_the_running_one_as_rollback_target(
    deploy_target: DeployTarget, evidence: Evidence
) -> None:
    target, releases = deploy_target, deploy_target.releases
    before = releases.pointed("current")
    version = releases.new_version("2")
    artifact = releases.archived(releases.good(version))
    with target.watch() as watcher:
        result = target.deploy(artifact)
    evidence.add("deploy", result.evidence())
    evidence.add(
        "chart",
        target.chart(f"deploy of {target.service} {version}", [("deploy", result)], watcher),
    )
    problems = Problems(f"deploy of a good release of {target.service}")
    problems.expect(result.exit_code == 0, "exit", f"deploy exited {result.exit_code}")
    problems.expect(
        releases.pointed("current") == version,
        "current",
        f"current → {releases.pointed('current')}, expected {version}",
    )
    problems.expect(
        releases.pointed("previous") == before,
        "rollback target",
        f"previous → {releases.pointed('previous')}, expected the running {before}",
    )
    problems.expect(
        before in releases.installed(),
        "rollback target",
        f"the running release {before} was not kept ({releases.installed()})",
    )
    problems.expect(
        target.running() == version,
        "running",
        f"the process runs {target.running()}, expected {version}",
    )
    final = watcher.samples[-1]
    problems.expect(final.status == 200, "ready", f"readiness {final.status} after the deploy")
    polls = [e for e in result.events if e.get("event") == "health"]
    policy = target.policy
    problems.expect(bool(polls), "polls", "the deploy never polled health")
    if ready := [e for e in polls if e.get("status") == "200"]:
        evidence.figure(
            "deploy_healthy_after_s",
            ready[0]["elapsed_s"],
            "s",
            objective=policy.health_deadline_s,
            comparison="<=",
        )
    # As the script tells them (figures, not the verdict): `current` switched → deployed.
    if (switch_s := between(result, "switched", "deployed")) is not None:
        evidence.figure("deploy_switch_s", switch_s, "s")
    evidence.figure("deploy_s", result.seconds, "s")
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-DEP-1")
def test_deploy_polls_an_unready_release_every_interval_until_the_deadline(
    deploy_target: DeployTarget, evidence: Evidence
) -> None:
    """Given a release that runs but never becomes ready: when and how often is it asked?"""
    target, releases, policy = deploy_target, deploy_target.releases, deploy_target.policy
    before = releases.pointed("current")
    probe_log = releases.scratch("probes.jsonl")  # on the stack's side
    port = target.listen_port()
    version = releases.new_version("unready")
    polling = Polling(policy.health_interval_s, policy.health_deadline_s)
    mark = target.lifecycle_mark()

    def polled_past_the_deadline() -> str | None:
        log = target.probes(probe_log)
        late = polling.overran(log, target.release_started(mark, log)[0])
        return "a probe came after the deadline" if late else None

    with target.watch() as watcher:
        artifact = releases.unready(version, port, probe_log)
        result = target.deploy_until(artifact, polled_past_the_deadline)
    log = target.probes(probe_log)
    origin, timed_by = target.release_started(mark, log)
    span = polling.span(log, origin)
    evidence.add("deploy", result.evidence())
    evidence.add("release started (timed by)", timed_by)
    evidence.add(
        "probes (s after the release started)",
        [round(t - (origin or t), 3) for t in log.probes],
    )
    evidence.add(
        "chart",
        target.chart(
            f"deploy of an unready {target.service} release: polled every "
            f"{policy.health_interval_s:g} s for at most {policy.health_deadline_s:g} s",
            [("deploy", result)],
            watcher,
            # The probes' clock is the stack's: on this machine's timeline only where the
            # stack's lifecycle timed the release.
            log.probes if mark is not None else (),
        ),
    )
    problems = polling.problems(log, origin)
    if result.exit_code is None:
        problems.add(
            "deadline", f"the deploy was still polling past the {polling.deadline_s:g} s deadline"
        )
    if gaps := log.gaps():
        evidence.figure(
            "health_poll_interval_median_s",
            statistics.median(gaps),
            "s",
            objective=polling.interval_s + polling.late_s,
            comparison="<=",
        )
    evidence.figure(
        "health_polling_span_s",
        span,
        "s",
        objective=polling.deadline_s + polling.start_allowance_s,
        comparison="<=",
    )
    problems.expect(
        result.exit_code not in (0, None),
        "exit",
        f"deploy exited {result.exit_code} for a release that never became ready",
    )
    problems.expect(
        target.running() == before,
        "rollback",
        f"runs {target.running()} afterwards, expected the previous {before}",
    )
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-DEP-2")
def test_a_failing_release_is_replaced_by_the_previous_one(
    deploy_target: DeployTarget, evidence: Evidence
) -> None:
    """Given release 2 deployed over 1, when release 3 crashes at start, then 2 serves again
    (not 1), within the outage budget, and deploy still exits non-zero."""
    target, releases, policy = deploy_target, deploy_target.releases, deploy_target.policy
    second = releases.new_version("2")
    first_deploy = target.deploy(releases.good(second))
    if first_deploy.exit_code != 0:
        # R-DEP-1's finding (its tests deploy a good release too); here it leaves no release
        # 2 to roll back to.
        raise PreconditionError(
            f"the good release {second} did not deploy: {first_deploy.describe()}"
        )
    third = releases.new_version("3")
    with target.watch() as watcher:
        result = target.deploy(releases.crashing(third))
    evidence.add("deploy", result.evidence())
    evidence.add(
        "chart",
        target.chart(
            f"deploy of a crashing {target.service} release, rolled back",
            [("deploy", result)],
            watcher,
        ),
    )
    problems = Problems("rollback of a failing release")
    problems.expect(
        result.exit_code not in (0, None),
        "exit",
        f"deploy exited {result.exit_code}: a rolled-back deploy must fail",
    )
    problems.expect(
        releases.pointed("current") == second,
        "current",
        f"current → {releases.pointed('current')}, expected {second}",
    )
    problems.expect(
        target.running() == second,
        "running",
        f"the process runs {target.running()}, expected the previous {second}",
    )
    served = {s.release for s in watcher.samples if s.status == 200}
    problems.expect(third not in served, "served", f"the failing {third} answered ready")
    final = watcher.samples[-1]
    problems.expect(
        final.status == 200 and final.release == second,
        "serving",
        f"after the deploy: readiness {final.status} from {final.release}",
    )
    # As the script tells it (a figure, not the verdict): rollback decided → serving again.
    if (rollback_s := between(result, "rollback", "rolled_back")) is not None:
        evidence.figure("rollback_s", rollback_s, "s")
    if (outage := watcher.outage()) is not None:
        seconds = outage[1] - outage[0]
        evidence.figure("outage_s", seconds, "s", objective=policy.outage_budget_s, comparison="<=")
        problems.expect(
            seconds <= policy.outage_budget_s,
            "budget",
            f"unready for {seconds:.1f} s (budget {policy.outage_budget_s:g} s)",
        )
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-DEP-3")
def test_an_invalid_artifact_never_takes_the_service_down(
    deploy_target: DeployTarget, evidence: Evidence
) -> None:
    target, releases = deploy_target, deploy_target.releases
    before = releases.pointed("current")
    artifacts = {
        "missing": releases.missing(releases.new_version("missing")),
        "not executable": releases.not_executable(releases.new_version("noexec")),
        "corrupt archive": releases.corrupt_archive(releases.new_version("corrupt")),
        "another service's": releases.of_another_service(releases.new_version("other")),
    }
    problems = Problems("deploys of invalid artifacts")
    results = []
    with target.watch() as watcher:
        mark = target.lifecycle_mark()
        for kind, artifact in artifacts.items():
            result = target.deploy(artifact)
            results.append((kind, result))
            evidence.add(f"deploy of a {kind} artifact", result.evidence())
            problems.expect(
                result.exit_code not in (0, None),
                kind,
                f"deploy exited {result.exit_code} for a {kind} artifact",
            )
            problems.expect(
                releases.pointed("current") == before,
                kind,
                f"current → {releases.pointed('current')}, expected {before}",
            )
    touched = target.since(mark) or []
    problems.expect(
        not touched,
        "service",
        "the running release was touched: " + ", ".join(f"{e.kind} ({e.by})" for e in touched),
    )
    # The lifecycle above tells any restart; the identities seen confirm it where the
    # backend reports them (none seen: nothing to compare, not a restart).
    ran_as = watcher.identities()
    if len(ran_as) > 1:
        problems.add("service", f"the service ran as {sorted(ran_as)}: it was restarted")
    evidence.add(
        "restarts seen by",
        "the stack's lifecycle" if mark is not None else f"the restart identities {sorted(ran_as)}",
    )
    down = watcher.unready(definite=True)
    problems.expect(not down, "service", f"readiness dropped {len(down)} time(s)")
    evidence.add(
        "chart", target.chart(f"deploys of invalid {target.service} artifacts", results, watcher)
    )
    problems.raise_if_any()
    if mark is None and not ran_as:
        raise PreconditionError(
            f"the backend keeps no lifecycle and reports no restart identity of "
            f"{target.service}, so a restart by the deploys cannot be seen"
        )


@pytest.mark.destructive
@pytest.mark.requirement("R-DEP-4")
def test_deploy_waits_for_healthy_dependencies(
    deploy_target: DeployTarget, profile: Profile, evidence: Evidence
) -> None:
    """Given a hard dependency down, a deploy starts nothing and leaves the running release."""
    target, releases, stack = deploy_target, deploy_target.releases, deploy_target.stack
    hard = profile.services[target.service].health.hard_dependencies
    if not hard:
        nothing_to_check(
            f"{target.service} names no hard dependency to stop",
            enable=f"services.{target.service}.health.hard_dependencies",
        )
    before = releases.pointed("current")
    identity = stack.service(target.service).identity()
    problems = Problems("a deploy while a dependency is down")
    for dependency in hard:
        stack.service(dependency).stop()
        seen = len(stack.lifecycle())

        def restarted(since: int = seen) -> str | None:
            spawned = [e for e in stack.lifecycle()[since:] if e.service == target.service]
            return f"{target.service} was started" if spawned else None

        try:
            result = target.deploy_until(releases.good(releases.new_version("2")), restarted)
        finally:
            stack.service(dependency).start()
        evidence.add(f"deploy with {dependency} down", result.evidence())
        during = stack.lifecycle()[seen:]
        ordering = start_order_problems(stack.lifecycle(), {target.service: [dependency]})
        for problem in ordering:
            problems.add(dependency, problem)
        started = [e for e in during if e.service == target.service and e.kind == "spawn"]
        problems.expect(
            not started,
            dependency,
            f"{target.service} was restarted {len(started)} time(s) while {dependency} was down",
        )
        problems.expect(
            result.exit_code not in (0, None),
            dependency,
            f"deploy exited {result.exit_code} with {dependency} down",
        )
        problems.expect(
            releases.pointed("current") == before,
            dependency,
            f"current → {releases.pointed('current')}, expected {before}",
        )
    if identity is not None:  # unknown: the lifecycle's spawns above tell a restart alone
        problems.expect(
            stack.service(target.service).identity() == identity,
            "service",
            "the running release was restarted",
        )
    problems.raise_if_any()
