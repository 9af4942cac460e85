"""The host's listening TCP sockets (port and inode), as `ss -ltn` gets them: netlink
sock_diag (Linux 3.3+) asked for the LISTEN state only.

Not /proc/net/tcp: the kernel writes every socket of the host into it, TIME_WAIT included,
on each read (20 ms with 1700 closing connections); not psutil either, which reads it. A
readiness check asks this once per service start, so it must stay cheap on a busy host.
/proc/net/tcp remains the fallback where netlink is refused.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from pathlib import Path

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
TCP_LISTEN = 10
HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port ID
# inet_diag_req_v2: family, protocol, extensions, pad, states; then inet_diag_sockid (48 B).
REQUEST = struct.Struct("=BBBBI48s")
# inet_diag_msg: family, state, timer, retransmits; sockid (source port first, big-endian);
# expires, rqueue, wqueue, uid, inode.
MESSAGE = struct.Struct("=BBBB2s46sIIIII")


def _dump(family: int) -> dict[int, int]:
    request = REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, 1 << TCP_LISTEN, b"\0" * 48)
    header = HEADER.pack(HEADER.size + len(request), SOCK_DIAG_BY_FAMILY,
                         NLM_F_REQUEST | NLM_F_DUMP, 1, 0)  # fmt: skip
    found: dict[int, int] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG) as link:
        link.sendto(header + request, (0, 0))
        while True:
            data = link.recv(65536)
            offset = 0
            while offset + HEADER.size <= len(data):
                length, kind, _, _, _ = HEADER.unpack_from(data, offset)
                if kind == NLMSG_DONE:
                    return found
                if kind == NLMSG_ERROR or length < HEADER.size:
                    raise OSError("sock_diag refused the request")
                fields = MESSAGE.unpack_from(data, offset + HEADER.size)
                found[fields[10]] = int.from_bytes(fields[4], "big")
                offset += (length + 3) & ~3
            if not data:
                return found


def _from_proc() -> dict[int, int]:
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text("ascii").splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A":
                    found[int(fields[9])] = int(fields[1].rpartition(":")[2], 16)
    return found


def listening() -> dict[int, int]:
    """inode -> port of every TCP socket in LISTEN state (IPv4 and IPv6)."""
    try:
        return {**_dump(socket.AF_INET), **_dump(socket.AF_INET6)}
    except OSError:
        return _from_proc()
