"""Container hardening as the compose backend shows it to the host suite (R-HOST-3, 4, 5):
the reference stack's containers pass, and each hardening mutant's container is found out
by the same readings the suite makes (`checks.host.listeners`, `checks.containers`, the
configured and the running user). Machine-level checks (firewall, fail2ban) are not the
stack's on a local engine: they are refused, saying so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from compose_support import compose_stack, engine_or_skip, reference_profile

from stackproof.backends.compose import ComposeStack
from stackproof.checks.containers import ContainerPolicy, container_problems
from stackproof.checks.host import listeners, own_addresses, private_container_address
from stackproof.errors import CapabilityMissingError

pytestmark = [pytest.mark.stack, pytest.mark.containers]

HARDENING_MUTANTS = (
    "compose-port-public",
    "compose-root-user",
    "compose-no-log-limits",
    "compose-restart-no",
    "compose-no-healthcheck",
)
ROOT_USERS = {"root", "0"}


def findings(stack: ComposeStack) -> dict[str, set[str]]:
    """service -> what the host suite's readings find wrong with it."""
    host = stack.host()
    found: dict[str, set[str]] = {}
    interfaces = own_addresses(host)
    for listener in listeners(host):
        if not (listener.loopback or private_container_address(listener.address, interfaces)):
            found.setdefault("published", set()).add(str(listener.port))
    for name, service in host.services().items():
        problems = found.setdefault(name, set())
        configured = service.configured_user()
        if configured is None or configured in ROOT_USERS:
            problems.add("configured root")
        if any(p.user in ROOT_USERS for p in service.processes()):
            problems.add("runs as root")
        inspect = service.inspect()
        assert inspect is not None, name
        problems.update(k.split(": ")[1] for k in container_problems(inspect, ContainerPolicy()))
    return found


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    engine_or_skip()
    work = tmp_path_factory.mktemp("hardening")
    with compose_stack(reference_profile(work), work / "reports") as stack:
        yield stack


def test_the_reference_containers_are_hardened(reference: ComposeStack) -> None:
    found = findings(reference)
    assert {k: v for k, v in found.items() if v} == {}
    assert set(found) == set(reference.profile.services)  # every service was judged


def test_machine_level_facts_are_refused_not_judged(reference: ComposeStack) -> None:
    host = reference.host()
    with pytest.raises(CapabilityMissingError, match="not the stack's: its firewall"):
        host.root(["iptables", "-S", "INPUT"])
    with pytest.raises(CapabilityMissingError, match="not the stack's"):
        host.run("fail2ban-client status sshd")


def test_a_database_link_is_reached_through_its_published_port(reference: ComposeStack) -> None:
    service = reference.host().services()["auth"]
    url = service.environment()["DATABASE_URL"]  # the secret file with-secrets exports
    address = url.rsplit("@", 1)[1].split("/", 1)[0]
    host, _, port = address.rpartition(":")
    with reference.host().forward(host, int(port)) as endpoint:
        assert endpoint == reference.service("postgres").endpoint()
    assert host in own_addresses(reference.host())  # a link between containers stays here


def test_each_hardening_mutant_is_found(tmp_path: Path) -> None:
    engine_or_skip()
    # One stack with every hardening mutant applied: each breaks another service or fact.
    profile = reference_profile(tmp_path, HARDENING_MUTANTS)
    with compose_stack(profile, tmp_path / "reports") as stack:
        found = findings(stack)
    assert found["published"] == {str(stack.service("auth").endpoint().port)}  # on 0.0.0.0
    assert found["bot"] == {"configured root", "runs as root"}
    assert found["auth"] == {"logs", "restart"}
    assert found["nginx"] == {"healthcheck"}
