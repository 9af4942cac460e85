#!/usr/bin/env python3
"""Delete backups older than the retention period (default 7 days), by the time in their name.

    retention.py [--config FILE] [--days N] [--dry-run] [--events FILE]

Only this database's complete backups (`<db>-YYYYmmdd-HHMMSS.dump`) are considered; other
files are never touched. The newest backup is always kept, whatever its age. `backup.py`
runs this after every backup.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

from opskit.backups import backups, expired
from opskit.config import Config, ConfigError
from opskit.events import Events
from opskit.postgres import Database


def apply_retention(
    folder: Path, database: str, keep_days: float, events: Events, dry_run: bool = False
) -> list[Path]:
    found = backups(folder, database)
    doomed = expired(found, dt.datetime.now(dt.UTC), keep_days)
    for backup in doomed:
        if not dry_run:
            backup.path.unlink(missing_ok=True)
        events.emit(
            "expired",
            f"{backup.path.name}{' (dry run)' if dry_run else ''}",
            file=str(backup.path),
            taken=backup.taken.isoformat(),
        )
    events.emit("kept", f"{len(found) - len(doomed)} backup(s) of {keep_days:g} days")
    return [backup.path for backup in doomed]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="ops config (default: $OPS_CONFIG)")
    parser.add_argument("--days", type=float, help="keep this many days (default: config)")
    parser.add_argument("--dry-run", action="store_true", help="only say what would go")
    parser.add_argument("--events", help="append JSON-line events here (default: $OPS_EVENTS)")
    args = parser.parse_args(argv)
    events = Events("retention", args.events)
    try:
        config = Config.load(args.config)
        keep_days = args.days or config.number("backup.retention_days", 7.0)
        folder = config.path("backup.dir")
        database = Database.from_config(config).name
    except ConfigError as error:
        events.fail("config", str(error))
        return 1
    if keep_days <= 0:
        events.fail("config", "--days must be positive")
        return 1
    apply_retention(folder, database, keep_days, events, args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
