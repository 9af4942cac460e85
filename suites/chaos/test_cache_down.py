"""R-RES-1: commands answer with data when the cache is down, and cache entries expire."""

from __future__ import annotations

import pytest

from stackproof.backends import Stack
from stackproof.checks.cache import RedisProbe
from stackproof.checks.chaos import command_client, require_links
from stackproof.checks.commands import CommandClient
from stackproof.checks.evidence import Evidence
from stackproof.checks.problems import Problems
from stackproof.checks.steady import SteadyState
from stackproof.errors import CapabilityMissingError, PreconditionError
from stackproof.faults.injector import StackFaults
from stackproof.profile import Profile

ANSWERS_PER_FAULT = 3
TTL_SLACK_S = 30  # seconds an entry may have aged between being written and being read


@pytest.mark.requirement("R-RES-1")
@pytest.mark.needs("command", "signer", "command_cache")
def test_cache_entries_expire_after_the_policy_ttl(
    stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    """Given no cached entry, a command's answer is cached with the policy's TTL."""
    commands = command_client(stack)
    settings = profile.command
    assert settings is not None  # command_client skips otherwise
    if settings.cache is None:
        pytest.skip("the profile's command names no cache")
    ttl = profile.policy.resilience.cache_ttl_s
    try:
        cache = RedisProbe(stack.service(settings.cache).connection_url())
    except CapabilityMissingError as error:
        pytest.skip(f"this check reads the cache directly: {error}")
    stale = cache.keys(settings.cache_keys)
    if stale:
        cache.call(("DEL", *stale))  # a cache may always be emptied: the next answer refills it
    with commands:
        answer = commands.send()
    if not answer.has_data:
        raise PreconditionError(f"the command was not answered with data: {answer.describe()}")
    ttls = cache.ttls(cache.keys(settings.cache_keys))
    evidence.add("cache entries and their TTLs (s)", ttls)
    problems = Problems(f"cache entries matching {settings.cache_keys!r}")
    problems.expect(bool(ttls), "entries", "the answered command left no cache entry")
    for key, left in ttls.items():
        if left == -1:
            problems.add(key, "has no expiry (written without a TTL)")
        elif not ttl - TTL_SLACK_S <= left <= ttl:
            problems.add(key, f"expires in {left} s, expected {ttl} s")
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-RES-1")
@pytest.mark.needs("fault_links", "command_cache")
def test_commands_answer_with_data_while_the_cache_is_down(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    commands: CommandClient,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    """The cache refuses connections, then swallows them (black hole): answers keep coming."""
    require_links(faults)
    settings = profile.command
    assert settings is not None
    if settings.cache is None:
        pytest.skip("the profile's command names no cache")
    budget = profile.policy.resilience.answer_within_s
    links = [faults.link(settings.service, settings.cache)]
    problems = Problems("commands with the cache down")
    steady.require("before the cache goes down")
    for fault_name, fault in (("down", faults.down), ("black hole", faults.timeout)):
        with faults.on_links(links, fault):
            for _ in range(ANSWERS_PER_FAULT):
                answer = commands.send()
                evidence.add(f"cache {fault_name}", answer.describe())
                evidence.figure(
                    f"answer_with_cache_{fault_name.replace(' ', '_')}_s",
                    answer.took_s,
                    "s",
                    objective=budget,
                    comparison="<=",
                )
                problems.expect(
                    answer.has_data, fault_name, f"{answer.describe()}: no answer with data"
                )
                problems.expect(
                    answer.took_s <= budget,
                    fault_name,
                    f"{answer.describe()}: slower than the {budget:g} s the caller waits",
                )
        steady.await_again(profile.policy.health.recover_within_s, f"after the cache {fault_name}")
    problems.raise_if_any()
