"""A loopback address of a stack's own (127.77.x.y), so it publishes its ports as its file
says them: a compose file's front that redirects to `https://$host:8443` is then right, as
it is where the file runs alone.

127.0.0.0/8 is loopback on Linux, every address of it. Each stack takes one, locked as the
allocator locks ports (`stackproof.ports`: a flock on a file in the shared lock folder,
dropped with the process however it dies), so two stacks of one file run side by side, each
on its own address, ports unchanged. Ports a file publishes beyond loopback (0.0.0.0) still
come from the allocator: an address of its own does not keep those apart.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from stackproof.ports import PortsUnavailableError, lock_dir, try_lock

FIRST = ipaddress.IPv4Address("127.77.0.1")
COUNT = 65000


def _folder() -> Path:
    folder = lock_dir() / "addresses"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class AddressLease:
    address: str
    path: Path
    descriptor: int | None

    def release(self) -> None:
        if self.descriptor is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()  # while still held: nobody else has it
            os.close(self.descriptor)
            self.descriptor = None


def lease_address(owner: str) -> AddressLease:
    """The first free address of 127.77.0.0/16, locked for this process."""
    folder = _folder()
    for offset in range(COUNT):
        address = str(FIRST + offset)
        path = folder / f"{address}.lock"
        descriptor = try_lock(path)
        if descriptor is not None:
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{owner}\n".encode())
            return AddressLease(address, path, descriptor)
    raise PortsUnavailableError(f"no free loopback address in {FIRST}/16 for {owner}")
