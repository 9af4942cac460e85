#!/usr/bin/env python3
"""Back the database up: a consistent `pg_dump -Fc`, never a half-written file under its name.

    backup.py [--config FILE] [--events FILE] [--no-retention]

1. the backup folder is mode 0700 (made so, or tightened);
2. `pg_dump -Fc` (one consistent snapshot) writes `.<name>.partial` in that folder, created
   mode 0640;
3. the dump must exit 0, be non-empty, and list as an archive (`pg_restore --list`);
4. it is flushed to disk and renamed atomically to `<db>-YYYYmmdd-HHMMSS.dump` (UTC), so a
   crash at any point leaves no file under a backup's name (R-BAK-1, R-SEC-1);
5. retention: backups older than `retention_days` (default 7) go (R-BAK-2; see retention.py).

Exit status: 0 written, 1 configuration error or another backup running, 3 the dump failed
(nothing was left behind). Cron: `0 2 * * * OPS_CONFIG=/etc/stack/ops.toml
/opt/stack/ops/backup.py >> /var/log/stack-backup.log 2>&1`.

Configuration: `[database] url` (its owner's DSN), `bin_dir` (PostgreSQL's tools; default:
PATH), `[backup] dir`, `retention_days`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import os
import stat
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from opskit.backups import PARTIAL_SUFFIX, backup_name, partial_name
from opskit.config import Config, ConfigError
from opskit.events import Events
from opskit.postgres import Database, tail
from retention import apply_retention

WRITTEN, CONFIG, FAILED = 0, 1, 3
FILE_MODE = 0o640
FOLDER_MODE = 0o700
DUMP_TIMEOUT_S = 6 * 3600.0


def private_folder(folder: Path, events: Events) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
    mode = stat.S_IMODE(folder.stat().st_mode)
    if mode != FOLDER_MODE:
        folder.chmod(FOLDER_MODE)
        events.emit("tightened", f"{folder} was mode {mode:o}; now {FOLDER_MODE:o}")


def remove_stale_partials(folder: Path, events: Events) -> None:
    """Left by a backup that crashed; safe to remove while we hold the folder's lock."""
    for stale in folder.glob(f".*{PARTIAL_SUFFIX}"):
        stale.unlink(missing_ok=True)
        events.emit("removed_stale", stale.name)


def fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fresh_name(database: Database, folder: Path) -> Path:
    """Names have one-second resolution: a second backup within the same second waits for
    the next one rather than overwrite the first."""
    final = folder / backup_name(database.name, dt.datetime.now(dt.UTC))
    if final.exists():
        time.sleep(1.0 - time.time() % 1.0 + 0.01)  # at most a second, once
        final = folder / backup_name(database.name, dt.datetime.now(dt.UTC))
    return final


def dump(database: Database, folder: Path, events: Events) -> Path | None:
    final = fresh_name(database, folder)
    if final.exists():
        events.fail("exists", f"{final.name} exists already; one backup per second at most")
        return None
    partial = folder / partial_name(final.name)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    started = time.monotonic()
    events.emit("dumping", partial.name, file=str(partial))
    done = database.run(
        "pg_dump",
        "--format=custom",
        "--no-password",
        f"--file={partial}",
        f"--dbname={database.url}",
        timeout_s=DUMP_TIMEOUT_S,
    )
    problem = None
    if done.returncode != 0:
        problem = f"pg_dump exited {done.returncode}: {tail(done.stderr)}"
    elif partial.stat().st_size == 0:
        problem = "pg_dump wrote nothing"
    else:
        listed = database.run("pg_restore", "--list", str(partial), timeout_s=600)
        if listed.returncode != 0:
            problem = f"the dump does not read back as an archive: {tail(listed.stderr)}"
    if problem is not None:
        partial.unlink(missing_ok=True)
        events.fail("failed", f"no backup written: {problem}")
        return None
    partial.chmod(FILE_MODE)
    fsync_path(partial)
    partial.rename(final)  # atomic: same folder
    fsync_path(folder)
    events.emit(
        "written",
        f"{final} ({final.stat().st_size} bytes)",
        file=str(final),
        bytes=final.stat().st_size,
        seconds=round(time.monotonic() - started, 3),
    )
    return final


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="ops config (default: $OPS_CONFIG)")
    parser.add_argument("--events", help="append JSON-line events here (default: $OPS_EVENTS)")
    parser.add_argument("--no-retention", action="store_true", help="keep every old backup")
    args = parser.parse_args(argv)
    events = Events("backup", args.events)
    try:
        config = Config.load(args.config)
        database = Database.from_config(config)
        folder = config.path("backup.dir")
        keep_days = config.number("backup.retention_days", 7.0)
    except ConfigError as error:
        events.fail("config", str(error))
        return CONFIG
    private_folder(folder, events)
    os.umask(0o137)  # whatever pg_dump or we create from here: at most rw-r-----
    with (folder / ".backup.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            events.fail("busy", f"another backup into {folder} is running")
            return CONFIG
        remove_stale_partials(folder, events)
        written = dump(database, folder, events)
        if written is None:
            return FAILED
        if not args.no_retention:
            apply_retention(folder, database.name, keep_days, events)
    print(written)
    return WRITTEN


if __name__ == "__main__":
    sys.exit(main())
