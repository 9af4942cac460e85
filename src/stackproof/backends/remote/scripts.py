"""The stack's own operations scripts, run on the staging host as cron or CI would run them.

Each script is one SSH channel: its output streams into a log file here, its exit status
comes back over the channel. Killing it kills its process group on the host (`setsid
--wait` starts it as a group leader, which says the group's ID first).
"""

from __future__ import annotations

import shlex
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import paramiko

from stackproof.backends.remote.ssh import SshHost
from stackproof.procs import tail

READ_CHUNK = 65536


class SshScript:
    """A `ScriptProcess` on the host."""

    def __init__(
        self,
        host: SshHost,
        argv: Sequence[str],
        *,
        cwd: PurePosixPath,
        env: Mapping[str, str],
        log_path: Path,
    ) -> None:
        self.host = host
        self._argv = tuple(argv)
        self.log_path = log_path
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # `setsid` makes the script a group leader (`echo $$` first tells its group ID) — in a
        # child, since sshd's shell already leads its group: `--wait` hands back the child's
        # exit status instead of setsid's own immediate 0.
        inner = (
            f"echo $$; cd {shlex.quote(str(cwd))} && exec env {exports} {shlex.join(self._argv)}"
        )
        command = f"exec setsid --wait sh -c {shlex.quote(inner)} 2>&1"
        transport = host.client.get_transport()
        assert transport is not None
        self._channel: paramiko.Channel = transport.open_session()
        self._channel.exec_command(command)
        self._group: int | None = None
        self._done = threading.Event()
        self._reader = threading.Thread(target=self._read, name="ssh-script", daemon=True)
        self._reader.start()

    @property
    def argv(self) -> tuple[str, ...]:
        return self._argv

    def _read(self) -> None:
        first = b""
        with self.log_path.open("ab") as log:
            while True:
                data = self._channel.recv(READ_CHUNK)
                if not data:
                    break
                if self._group is None:
                    first += data
                    if b"\n" not in first:
                        continue
                    line, _, data = first.partition(b"\n")
                    self._group = int(line.strip() or b"0")
                log.write(data)
                log.flush()
        self._done.set()

    def running(self) -> bool:
        return not self._channel.exit_status_ready()

    def exit_code(self) -> int | None:
        return self._channel.recv_exit_status() if self._channel.exit_status_ready() else None

    def wait(self, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while not self._channel.exit_status_ready():
            if self._channel.status_event.wait(timeout=max(0.0, deadline - time.monotonic())):
                break
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(list(self._argv), timeout_s)
        self._done.wait(timeout=5.0)
        return int(self._channel.recv_exit_status())

    def _signal_group(self, signal_name: str) -> None:
        if self._group:
            self.host.run(f"kill -s {signal_name} -- -{self._group}")

    def kill(self) -> None:
        self._signal_group("KILL")
        self._channel.close()

    def stop(self, timeout_s: float) -> None:
        if self.running():
            self._signal_group("TERM")
            try:
                self.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        self._channel.close()

    def log_tail(self, lines: int) -> str:
        self._done.wait(timeout=1.0)
        return tail(self.log_path, lines)
