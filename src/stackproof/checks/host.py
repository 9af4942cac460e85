"""Host hardening facts (R-HOST-1..4), read from the host itself over `HostAccess`, and the
outside probe of R-HOST-1.

Everything here reads; nothing changes the host. Commands that need root go through
`HostAccess.root` (`sudo -n`, which a deploy user's scoped sudo can allow); one that is not
allowed is a `PreconditionError` naming it (the check cannot judge: `error`, not `fail`).
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stackproof.backends.hosts import CommandRun, HostAccess
from stackproof.errors import PreconditionError

PROBE_TIMEOUT_S = 120.0
PROBE_CONNECT_TIMEOUT_S = 2.0
DENY = frozenset({"drop", "reject", "deny"})


@dataclass(frozen=True, slots=True, order=True)
class Listener:
    protocol: str
    address: str
    port: int

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.address.strip("[]")).is_loopback
        except ValueError:
            return self.address == "localhost"

    def describe(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.protocol} {host}:{self.port}"


def parse_listener(text: str) -> Listener | None:
    """testinfra's form: `tcp://0.0.0.0:22`, `tcp://:::22`, `tcp://127.0.0.1:5432`."""
    found = re.match(r"^(tcp|udp)://(.*):(\d+)$", text)
    if found is None:
        return None
    address = found[2] or "::"
    return Listener(found[1], address.strip("[]") or "::", int(found[3]))


def listeners(host: HostAccess) -> list[Listener]:
    """The host's listening TCP sockets (testinfra's `socket` module, i.e. `ss`)."""
    raw = host.testinfra.socket.get_listening_sockets()
    found = {parse_listener(text) for text in raw}
    return sorted(s for s in found if s is not None and s.protocol == "tcp")


def own_addresses(host: HostAccess) -> dict[str, str]:
    """The host's own addresses and their interfaces (`ip -j address`)."""
    done = host.run("ip -j address show")
    if not done.ok:
        raise PreconditionError(f"the host's addresses cannot be read: {done.describe()}")
    addresses: dict[str, str] = {}
    for interface in json.loads(done.stdout or "[]"):
        for info in interface.get("addr_info", []):
            addresses[info["local"]] = interface.get("ifname", "?")
    return addresses


def private_container_address(address: str, interfaces: dict[str, str]) -> bool:
    """An address of a container network's bridge on the host (docker0, br-...)."""
    interface = interfaces.get(address.strip("[]"), "")
    return interface.startswith(("docker", "br-", "podman", "cni"))


# --- the firewall ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Firewall:
    kind: str  # nftables, iptables, ufw, or none
    default_input: str | None  # drop/reject/deny/accept; None: no firewall found
    accepted_ports: frozenset[int] = frozenset()
    accepts_everything: bool = False  # a rule that lets any packet in
    detail: str = ""

    @property
    def denies_by_default(self) -> bool:
        return self.default_input in DENY and not self.accepts_everything


def _nft_ports(right: Any) -> set[int]:
    if isinstance(right, int):
        return {right}
    if isinstance(right, dict) and "set" in right:
        return {p for item in right["set"] for p in _nft_ports(item)}
    if isinstance(right, dict) and "range" in right:
        low, high = right["range"]
        return set(range(int(low), int(high) + 1))
    return set()


def _nft_rule(expressions: Sequence[dict[str, Any]]) -> tuple[bool, set[int], bool]:
    """(accepts, tcp ports it is limited to, whether it is limited to loopback/established)."""
    accepts = any("accept" in e for e in expressions)
    ports: set[int] = set()
    narrowed = False
    for expression in expressions:
        match = expression.get("match")
        if not match:
            continue
        left = match.get("left", {})
        payload = left.get("payload", {}) if isinstance(left, dict) else {}
        if payload.get("protocol") == "tcp" and payload.get("field") == "dport":
            ports |= _nft_ports(match.get("right"))
        else:
            narrowed = True  # iif lo, ct state, l4proto icmp, saddr ...
    return accepts, ports, narrowed


def read_nftables(ruleset: dict[str, Any]) -> Firewall:
    items = ruleset.get("nftables", [])
    chains = [i["chain"] for i in items if "chain" in i and i["chain"].get("hook") == "input"]
    if not chains:
        return Firewall("nftables", None, detail="no base chain on the input hook")
    denying = [c for c in chains if c.get("policy") in DENY]
    chain = denying[0] if denying else chains[0]
    ports: set[int] = set()
    everything = False
    for item in items:
        rule = item.get("rule")
        if not rule or (rule.get("table"), rule.get("chain")) != (chain["table"], chain["name"]):
            continue
        accepts, limited, narrowed = _nft_rule(rule.get("expr", []))
        if accepts and limited:
            ports |= limited
        elif accepts and not narrowed:
            everything = True
    described = ", ".join(
        f"{c['family']} {c['table']} {c['name']}: {c.get('policy')}" for c in chains
    )
    return Firewall(
        "nftables",
        chain.get("policy"),
        frozenset(ports),
        everything,
        f"input chains: {described}",
    )


def read_iptables(rules: str) -> Firewall:
    policy = re.search(r"^-P INPUT (\w+)", rules, re.MULTILINE)
    ports = {
        int(p) for p in re.findall(r"^-A INPUT .*--dport (\d+).* -j ACCEPT", rules, re.MULTILINE)
    }
    everything = bool(re.search(r"^-A INPUT -j ACCEPT$", rules, re.MULTILINE))
    return Firewall(
        "iptables",
        policy[1].lower() if policy else None,
        frozenset(ports),
        everything,
        f"INPUT policy {policy[1] if policy else '?'}",
    )


def read_ufw(status: str) -> Firewall:
    if "Status: active" not in status:
        return Firewall("ufw", None, detail="ufw is inactive")
    default = re.search(r"Default: (\w+) \(incoming\)", status)
    ports = {int(p) for p in re.findall(r"^(\d+)(?:/tcp)?\s+(?:ALLOW|LIMIT)", status, re.MULTILINE)}
    return Firewall("ufw", default[1].lower() if default else None, frozenset(ports))


def firewall(host: HostAccess) -> Firewall:
    """Whichever firewall the host has: nftables, then UFW, then iptables. A host whose
    nftables has no input chain, and no other firewall, has none (a finding, not an error)."""
    attempts: list[CommandRun] = []
    nft = host.root(["nft", "-j", "list", "ruleset"])
    nftables: Firewall | None = None
    if nft.ok:
        nftables = read_nftables(json.loads(nft.stdout or "{}"))
        if nftables.default_input is not None:
            return nftables
    attempts.append(nft)
    ufw = host.root(["ufw", "status", "verbose"])
    if ufw.ok:
        return read_ufw(ufw.stdout)
    attempts.append(ufw)
    iptables = host.root(["iptables", "-S", "INPUT"])
    if iptables.ok:
        return read_iptables(iptables.stdout)
    attempts.append(iptables)
    if nftables is not None:  # iptables-nft rules would have shown in nft's ruleset
        return nftables
    if all("command not found" in a.stderr or a.exit_status == 127 for a in attempts):
        return Firewall("none", None, detail="no nft, ufw or iptables on the host")
    raise PreconditionError(
        "the host's firewall cannot be read: "
        + "; ".join(a.describe() for a in attempts)
        + ". Allow the login to run one of them with sudo -n (read only)"
    )


# --- fail2ban --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Jail:
    name: str
    running: bool
    maxretry: int | None = None
    findtime_s: int | None = None
    bantime_s: int | None = None
    detail: str = ""


def fail2ban_jail(host: HostAccess, name: str) -> Jail:
    status = host.root(["fail2ban-client", "status", name])
    if not status.ok:
        said = status.describe()
        if "sudo" in status.stderr and "password" in status.stderr:
            raise PreconditionError(
                f"fail2ban cannot be asked ({said}); allow `fail2ban-client status {name}` and "
                f"`fail2ban-client get {name} *` with sudo -n"
            )
        return Jail(name, False, detail=said)
    values: dict[str, int | None] = {}
    for setting in ("maxretry", "findtime", "bantime"):
        got = host.root(["fail2ban-client", "get", name, setting])
        text = got.stdout.strip().splitlines()[-1:] if got.ok else []
        values[setting] = int(text[0]) if text and text[0].lstrip("-").isdigit() else None
    return Jail(name, True, values["maxretry"], values["findtime"], values["bantime"])


# --- the outside probe -----------------------------------------------------------------

PROBE_SCRIPT = """
import json, socket, sys, concurrent.futures as futures
address, timeout = sys.argv[1], float(sys.argv[2])
def probe(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        return port, "open" if s.connect_ex((address, port)) == 0 else "closed"
    except socket.timeout:
        return port, "filtered"
    except OSError:
        return port, "closed"
    finally:
        s.close()
with futures.ThreadPoolExecutor(64) as pool:
    print(json.dumps(dict(pool.map(probe, [int(p) for p in sys.argv[3:]]))))
"""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    vantage: str
    states: dict[int, str] = field(default_factory=dict)

    @property
    def open_ports(self) -> list[int]:
        return sorted(p for p, state in self.states.items() if state == "open")


def probe_from_container(
    *, run_id: str, network: str, image: str, address: str, ports: Iterable[int]
) -> ProbeResult:
    """Connect to `ports` of `address` from a container on `network` (one the run made),
    as another machine on the host's network would. The container is labelled with the run
    and removed when it ends."""
    argv = [
        "docker", "run", "--rm", "--label", f"org.stackproof.run={run_id}", "--network", network,
        "--entrypoint", "python3", image, "-c", PROBE_SCRIPT, address,
        str(PROBE_CONNECT_TIMEOUT_S), *map(str, sorted(set(ports))),
    ]  # fmt: skip
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise PreconditionError(f"the outside probe could not run: {error}") from None
    if done.returncode != 0:
        raise PreconditionError(f"the outside probe failed: {done.stderr.strip()[-800:]}")
    states = {int(k): v for k, v in json.loads(done.stdout).items()}
    return ProbeResult(f"a container on the network {network}", states)
