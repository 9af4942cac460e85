"""One port allocator for every listener of every run on a host: outside the kernel's
ephemeral range, locked per port, never handing out a port something listens on."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackproof.ports import (
    LOCK_DIR_ENV,
    PortAllocator,
    PortsUnavailableError,
    ephemeral_range,
    port_window,
    ports_named_in_use,
    remove_stale_locks,
    says_address_in_use,
)

# A small window of its own keeps these tests apart from the runs on this host.
WINDOW = range(29100, 29140)


@pytest.fixture(autouse=True)
def own_locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "locks"
    monkeypatch.setenv(LOCK_DIR_ENV, str(folder))
    return folder


class Holder:
    """Another process (another run) holding `count` ports of WINDOW until it is ended."""

    def __init__(self, count: int) -> None:
        script = (
            "import sys; from stackproof.ports import PortAllocator\n"
            f"ports = PortAllocator('other', window=range({WINDOW.start}, {WINDOW.stop}))"
            f".allocate({count})\n"
            "print(' '.join(map(str, ports)), flush=True); sys.stdin.read()\n"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.ports = [int(p) for p in self.process.stdout.readline().split()]
        assert len(self.ports) == count, "the holder did not get its ports"

    def end(self, signum: signal.Signals | None = None) -> None:
        if signum is not None:
            self.process.send_signal(signum)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()  # stdin's end tells it to exit
        self.process.wait(timeout=10)


@pytest.fixture
def holder() -> Iterator[list[Holder]]:
    made: list[Holder] = []
    yield made
    for one in made:
        one.end(signal.SIGKILL if one.process.poll() is None else None)


def test_ports_come_from_below_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    window = port_window()
    assert window.stop <= low or window.start > high
    ports = PortAllocator("test").allocate(20)
    assert len(set(ports)) == 20
    assert all(port in window and not low <= port <= high for port in ports)


def test_a_range_with_no_room_below_takes_ports_above_or_says_what_to_change() -> None:
    assert port_window((32768, 60999)) == range(20000, 32768)
    assert port_window((1024, 60000)) == range(60001, 65536)
    with pytest.raises(PortsUnavailableError, match=r"net\.ipv4\.ip_local_port_range"):
        port_window((1024, 65000))


def test_two_runs_never_share_a_port(holder: list[Holder]) -> None:
    holder.append(other := Holder(25))
    mine = PortAllocator("mine", window=WINDOW)
    ports = mine.allocate(15)
    assert set(ports).isdisjoint(other.ports)
    with pytest.raises(PortsUnavailableError, match="only 0 of 1 ports"):
        mine.allocate(1)  # the window is full: 25 + 15 of 40
    mine.release()
    assert len(PortAllocator("third", window=WINDOW).allocate(15)) == 15


def test_a_killed_run_holds_no_lock(holder: list[Holder], own_locks: Path) -> None:
    holder.append(other := Holder(40))
    with pytest.raises(PortsUnavailableError):
        PortAllocator("mine", window=WINDOW).allocate(1)
    other.end(signal.SIGKILL)  # the kernel drops its flocks with it
    assert sorted(PortAllocator("mine", window=WINDOW).allocate(40)) == list(WINDOW)


def test_a_port_something_listens_on_is_never_handed_out() -> None:
    with socket.create_server(("127.0.0.1", WINDOW.start)):  # a foreign program, no lock
        ports = PortAllocator("mine", window=range(WINDOW.start, WINDOW.start + 3)).allocate(2)
    assert WINDOW.start not in ports


def test_clean_removes_only_the_lock_files_nobody_holds(
    holder: list[Holder], own_locks: Path
) -> None:
    holder.append(live := Holder(5))
    holder.append(gone := Holder(5))
    gone.end(signal.SIGKILL)
    assert sorted(remove_stale_locks(dry_run=True)) == sorted(gone.ports)
    assert sorted(remove_stale_locks()) == sorted(gone.ports)
    left = sorted(int(path.stem) for path in (own_locks / "ports").glob("*.lock"))
    assert left == sorted(live.ports)
    live.end()
    assert sorted(remove_stale_locks()) == sorted(live.ports)


def test_a_log_saying_address_in_use_names_the_port() -> None:
    nginx = "nginx: [emerg] bind() to 127.0.0.1:29470 failed (98: Address in use)"
    postgres = 'LOG:  could not bind IPv4 address "127.0.0.1": Address already in use'
    assert says_address_in_use(nginx)
    assert says_address_in_use(postgres)
    assert not says_address_in_use("listening on 127.0.0.1:29470")
    assert ports_named_in_use(f"{nginx}\nready on 29471", [29470, 29471]) == {29470}
