"""The reference stack's operations scripts on bad input: a clear error, and nothing lost.

No stack here: the scripts run against a folder, a closed port and a recording stand-in for
the service manager. The suites drill them against a real stack.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from stackproof import binaries

OPS = ROOT / "stack" / "ops"


def run(script: str, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPS_CONFIG", "OPS_EVENTS")}
    if config is not None:
        env["OPS_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, str(OPS / script), *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """An ops config whose service manager only records what it is asked."""
    calls = tmp_path / "control-calls"
    control = tmp_path / "control"
    control.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n', "utf-8")
    control.chmod(0o700)
    bin_dir = binaries.postgres_bin_dir(18, for_other_user=False)
    path = tmp_path / "ops.toml"
    path.write_text(
        f"""
service_control = "{control}"
[database]
url = "postgresql://stack:secret-pw@127.0.0.1:{closed_port()}/stack"
bin_dir = "{bin_dir}"
[backup]
dir = "{tmp_path / "backups"}"
retention_days = 7
[deploy.bot]
releases = "{tmp_path / "releases"}"
entrypoint = "bin/start"
health_url = "http://127.0.0.1:{closed_port()}/readyz"
""",
        "utf-8",
    )
    path.chmod(0o600)
    return path


def test_a_script_without_configuration_says_how_to_give_it_one() -> None:
    for script in ("deploy.py", "backup.py", "restore.py", "retention.py"):
        done = run(script, *(["bot", "x"] if script == "deploy.py" else []))
        assert done.returncode == 1, (script, done.stderr)
        assert "pass --config FILE or set OPS_CONFIG" in done.stderr


def test_deploy_of_an_unknown_service_names_the_missing_table(config: Path) -> None:
    done = run("deploy.py", "auth", "/nowhere", config=config)
    assert done.returncode == 1
    assert "no [deploy.auth] table" in done.stderr


def _installed(config: Path) -> Path:
    releases = config.parent / "releases"
    first = releases / "releases" / "1"
    (first / "bin").mkdir(parents=True)
    (first / "release.json").write_text('{"service": "bot", "version": "1"}', "utf-8")
    (first / "bin" / "start").write_text("#!/bin/sh\n", "utf-8")
    (first / "bin" / "start").chmod(0o755)
    (releases / "current").symlink_to("releases/1")
    return releases


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        pytest.param(lambda tmp: tmp / "missing", "no such artifact", id="missing"),
        pytest.param(lambda tmp: _artifact(tmp, mode=0o644), "is not executable", id="noexec"),
        pytest.param(lambda tmp: _artifact(tmp, service="auth"), "not of 'bot'", id="service"),
        pytest.param(lambda tmp: _artifact(tmp, version="../x"), "not a valid version", id="version"),
        pytest.param(lambda tmp: _junk(tmp / "bot.tar.gz"), "not a readable archive", id="archive"),
        pytest.param(lambda tmp: _junk(tmp / "bot.zip"), "neither a folder nor", id="kind"),
    ],
)  # fmt: skip
def test_deploy_refuses_an_invalid_artifact_and_touches_nothing(
    config: Path, tmp_path: Path, make: object, reason: str
) -> None:
    releases = _installed(config)
    artifact = make(tmp_path)  # type: ignore[operator]
    done = run("deploy.py", "bot", str(artifact), config=config)
    assert done.returncode == 2, done.stdout + done.stderr
    assert reason in done.stderr
    assert "nothing changed" in done.stderr
    assert (releases / "current").readlink() == Path("releases/1")
    assert not (tmp_path / "control-calls").exists(), "the service was touched"
    assert sorted(p.name for p in (releases / "releases").iterdir()) == ["1"]


def _artifact(tmp: Path, *, mode: int = 0o755, service: str = "bot", version: str = "2") -> Path:
    folder = tmp / "artifact"
    (folder / "bin").mkdir(parents=True)
    manifest = {"service": service, "version": version}
    (folder / "release.json").write_text(json.dumps(manifest), "utf-8")
    (folder / "bin" / "start").write_text("#!/bin/sh\n", "utf-8")
    (folder / "bin" / "start").chmod(mode)
    return folder


def _junk(path: Path) -> Path:
    path.write_bytes(b"\x1f\x8b not really gzip")
    return path


def test_deploy_refuses_while_a_dependency_is_down(config: Path, tmp_path: Path) -> None:
    text = config.read_text("utf-8").replace(
        'entrypoint = "bin/start"',
        f'entrypoint = "bin/start"\ndependencies = ["tcp://127.0.0.1:{closed_port()}"]',
    )
    config.write_text(text, "utf-8")
    releases = _installed(config)
    done = run("deploy.py", "bot", str(_artifact(tmp_path)), config=config)
    assert done.returncode == 5, done.stdout + done.stderr
    assert "unhealthy dependencies" in done.stderr
    assert (releases / "current").readlink() == Path("releases/1")
    assert not (tmp_path / "control-calls").exists()


def test_a_backup_of_an_unreachable_database_fails_and_leaves_nothing(config: Path) -> None:
    done = run("backup.py", config=config)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "no backup written: pg_dump exited" in done.stderr
    assert "secret-pw" not in done.stdout + done.stderr
    folder = config.parent / "backups"
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    assert [p.name for p in folder.iterdir() if p.stat().st_size] == []


def test_restore_refuses_a_file_that_is_not_a_backup_before_touching_anything(
    config: Path, tmp_path: Path
) -> None:
    fake = tmp_path / "stack-20260101-000000.dump"
    fake.write_text("not a dump", "utf-8")
    done = run("restore.py", str(fake), config=config)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is not a readable backup" in done.stderr
    assert not (tmp_path / "control-calls").exists()


def test_retention_keeps_the_period_the_newest_and_foreign_files(config: Path) -> None:
    folder = config.parent / "backups"
    folder.mkdir(mode=0o700)
    now = dt.datetime.now(dt.UTC)
    ages = {"fresh": 0.5, "inside": 6.9, "outside": 7.1, "old": 30}
    names = {k: f"stack-{now - dt.timedelta(days=d):%Y%m%d-%H%M%S}.dump" for k, d in ages.items()}
    for name in [*names.values(), "notes.txt", "other-20200101-000000.dump"]:
        (folder / name).write_bytes(b"PGDMP")
    dry = run("retention.py", "--dry-run", config=config)
    assert dry.returncode == 0
    assert len(list(folder.iterdir())) == 6
    done = run("retention.py", config=config)
    assert done.returncode == 0, done.stderr
    left = {p.name for p in folder.iterdir()}
    assert left == {names["fresh"], names["inside"], "notes.txt", "other-20200101-000000.dump"}


def test_retention_never_deletes_the_last_backup(config: Path) -> None:
    folder = config.parent / "backups"
    folder.mkdir(mode=0o700)
    (folder / "stack-20200101-000000.dump").write_bytes(b"PGDMP")
    (folder / "stack-20200102-000000.dump").write_bytes(b"PGDMP")
    assert run("retention.py", config=config).returncode == 0
    assert [p.name for p in folder.iterdir()] == ["stack-20200102-000000.dump"]
