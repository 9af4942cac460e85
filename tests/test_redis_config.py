"""The process backend's Redis reads its settings from a file, each value one argument as
on the command line: a generated password that starts with `--` (read as the next option on
a command line) or holds quotes works, and no password shows in a process listing."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from stackproof import binaries
from stackproof.backends.process.redis import AnswersPing, config_text
from stackproof.backends.values import Endpoint
from stackproof.readiness import wait_for

START_TIMEOUT_S = 20


def test_each_value_is_one_quoted_argument() -> None:
    text = config_text({"requirepass": '--a"b\\c\n', "save": "", "port": 6379})
    assert text == 'requirepass "--a\\"b\\\\c\\n"\nsave ""\nport "6379"\n'


@pytest.mark.stack
def test_a_password_that_starts_with_two_dashes_opens_the_server(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    password = "--Zq8_uF-3kP"
    config = tmp_path / "redis.conf"
    config.write_text(
        config_text(
            {
                "port": port,
                "bind": "127.0.0.1",
                "requirepass": password,
                "save": "",
                "appendonly": "no",
                "dir": str(tmp_path),
                "daemonize": "no",
            }
        )
    )
    log = tmp_path / "redis.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(binaries.redis_server(None)), str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for(
            AnswersPing(Endpoint("127.0.0.1", port), password),
            timeout_s=START_TIMEOUT_S,
            what="redis-server with the config file",
            log_tail=lambda: log.read_text(errors="replace")[-2000:],
            give_up=lambda: None if server.poll() is None else f"exited {server.returncode}",
        )
        assert not AnswersPing(Endpoint("127.0.0.1", port), "not-the-password").check().ok
        listing = Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert password.encode() not in listing
    finally:
        server.kill()
        server.wait(START_TIMEOUT_S)
