"""The service logs a run keeps are scrubbed of its secrets when it ends, and the report
names (never shows) what was found."""

from __future__ import annotations

from pathlib import Path

from stackproof.results.logscrub import scrub_logs
from stackproof.run import SecretRegistry


def test_a_secret_a_service_printed_is_replaced_in_its_log(tmp_path: Path) -> None:
    secrets = SecretRegistry()
    password = secrets.generate("mariadb_password")
    logs = tmp_path / "logs"
    (logs / "side-stack").mkdir(parents=True)
    leaky = logs / "side-stack" / "mariadb.log"
    leaky.write_bytes(
        f"[ERROR] init file: near 'IDENTIFIED BY \\'{password}\\''\n".encode() + b"\xff\xfe raw\n"
    )
    clean = logs / "redis.log"
    clean.write_text("Ready to accept connections\n")
    before = clean.stat().st_mtime_ns

    assert scrub_logs(logs, secrets) == ["mariadb_password"]
    text = leaky.read_bytes()
    assert password.encode() not in text
    assert b"[secret:mariadb_password]" in text
    assert text.endswith(b"\xff\xfe raw\n")  # bytes that are not UTF-8 are kept
    assert clean.stat().st_mtime_ns == before  # a file with no secret is not rewritten


def test_no_logs_folder_is_nothing_to_scrub(tmp_path: Path) -> None:
    assert scrub_logs(tmp_path / "logs", SecretRegistry()) == []
