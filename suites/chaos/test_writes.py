"""R-RES-3: writes that were accepted land, exactly once, whatever the database link did."""

from __future__ import annotations

import pytest

from stackproof.backends import Stack
from stackproof.checks.chaos import require_links
from stackproof.checks.commands import CommandAnswer, CommandClient
from stackproof.checks.evidence import Evidence
from stackproof.checks.problems import Problems
from stackproof.checks.steady import SteadyState
from stackproof.checks.writes import WriteLedger
from stackproof.faults.injector import StackFaults
from stackproof.profile import Profile

COMMANDS_DURING_OUTAGE = 3


def database_links(profile: Profile, faults: StackFaults) -> list[str]:
    settings = profile.command
    assert settings is not None  # `ledger` skips otherwise
    assert settings.database is not None
    return [faults.link(settings.service, settings.database)]


def exactly_once(
    ledger: WriteLedger, accepted: list[CommandAnswer], others: list[CommandAnswer]
) -> Problems:
    """Every accepted interaction has one row; no interaction has two."""
    problems = Problems("rows per interaction ID")
    counts = ledger.counts(a.interaction_id for a in [*accepted, *others])
    accepted = list({a.interaction_id: a for a in accepted}.values())  # a redelivery: one ID
    for answer in accepted:
        count = counts[answer.interaction_id]
        if count != 1:
            lost = "lost" if count == 0 else f"written {count} times"
            problems.add(answer.interaction_id, f"accepted ({answer.describe()}) but {lost}")
    judged = {a.interaction_id for a in accepted}
    for answer in others:
        if counts[answer.interaction_id] > 1 and answer.interaction_id not in judged:
            problems.add(answer.interaction_id, f"written {counts[answer.interaction_id]} times")
    return problems


@pytest.mark.destructive
@pytest.mark.requirement("R-RES-3")
@pytest.mark.needs("fault_links")
def test_writes_accepted_during_a_database_outage_land_exactly_once(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    commands: CommandClient,
    ledger: WriteLedger,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    """The database link goes down; commands (one of them delivered twice, as a retried
    delivery would be) are sent; once the link is back every accepted one has one row."""
    require_links(faults)
    resilience = profile.policy.resilience
    steady.require("before the outage")
    answers: list[CommandAnswer] = []
    with faults.on_links(database_links(profile, faults), faults.down):
        for _ in range(COMMANDS_DURING_OUTAGE):
            answers.append(commands.send())
        payload = commands.payload()
        answers += [commands.redeliver(payload), commands.redeliver(payload)]
    evidence.add("answers during the outage", [a.describe() for a in answers])
    steady.await_again(resilience.writes_land_within_s, "after the outage")
    accepted = [a for a in answers if a.accepted]
    counts, took = ledger.await_landed(
        [a.interaction_id for a in accepted], resilience.writes_land_within_s
    )
    evidence.add("rows per accepted interaction", counts)
    evidence.figure(
        "accepted_writes_landed_s",
        took,
        "s",
        objective=resilience.writes_land_within_s,
        comparison="<=",
    )
    exactly_once(ledger, accepted, [a for a in answers if not a.accepted]).raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-RES-3")
@pytest.mark.needs("fault_links")
def test_a_write_whose_acknowledgement_was_lost_lands_once(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    commands: CommandClient,
    ledger: WriteLedger,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    """Answers from the database are black-holed: a write reaches it and commits, but the
    acknowledgement never comes back, and the connection is cut when the fault goes. The
    writer must retry — and the retry must not write the row a second time."""
    require_links(faults)
    resilience = profile.policy.resilience
    steady.require("before the fault")  # also: every earlier write is acknowledged
    with faults.on_links(
        database_links(profile, faults), lambda link: faults.timeout(link, stream="downstream")
    ):
        answer = commands.send()
        counts, _ = ledger.await_landed([answer.interaction_id], resilience.answer_within_s)
        evidence.add("the write during the black hole", {"answer": answer.describe(), **counts})
        if counts[answer.interaction_id] == 0:
            pytest.skip(
                "could not stage a lost acknowledgement: the write did not reach the database "
                "while its answers were black-holed (it may open a new connection per write)"
            )
    steady.await_again(resilience.writes_land_within_s, "after the black hole")
    exactly_once(ledger, [answer] if answer.accepted else [], [answer]).raise_if_any()
