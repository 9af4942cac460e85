"""The migrations' `--wait`: a database that does not answer yet is waited for, to a
deadline, and one that never answers ends the run with a message that names no target."""

from __future__ import annotations

import socket

import pytest
from refstack.common import migrations


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_database_that_never_answers_ends_the_wait_with_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://stack:secret-pass@127.0.0.1:{_closed_port()}/stack"
    monkeypatch.setenv("DATABASE_URL", url)
    assert migrations.main(["--wait=0.3", "auth", "refstack/auth/migrations"]) == 1
    error = capsys.readouterr().err
    assert "did not accept connections within 0.3 s (OperationalError)" in error
    assert "secret-pass" not in error
    assert "127.0.0.1" not in error


@pytest.mark.parametrize("argv", [["--wait=soon", "auth", "f"], ["--wait=1"], ["auth"]])
def test_a_malformed_command_line_gets_the_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert migrations.main(argv) == 2
    assert "usage: python -m refstack.common.migrations [--wait=SECONDS]" in capsys.readouterr().err
