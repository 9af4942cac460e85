"""Backup file names (`<db>-YYYYmmdd-HHMMSS.dump`, UTC) and retention by age."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

STAMP = "%Y%m%d-%H%M%S"
PARTIAL_SUFFIX = ".partial"


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    taken: dt.datetime


def backup_name(database: str, moment: dt.datetime) -> str:
    return f"{database}-{moment.astimezone(dt.UTC):{STAMP}}.dump"


def partial_name(final: str) -> str:
    """Hidden, in the same folder (so the rename is atomic), never matching the final form."""
    return f".{final}{PARTIAL_SUFFIX}"


def backups(folder: Path, database: str) -> list[Backup]:
    """This database's complete backups in `folder`, oldest first; anything else is ignored."""
    pattern = re.compile(rf"^{re.escape(database)}-(\d{{8}}-\d{{6}})\.dump$")
    found = []
    for path in folder.iterdir() if folder.is_dir() else []:
        match = pattern.match(path.name)
        if match and path.is_file():
            taken = dt.datetime.strptime(match.group(1), STAMP).replace(tzinfo=dt.UTC)
            found.append(Backup(path, taken))
    return sorted(found, key=lambda backup: backup.taken)


def expired(found: list[Backup], now: dt.datetime, keep_days: float) -> list[Backup]:
    """Backups older than `keep_days`. The newest is always kept, whatever its age, so a
    backup job that stalled for a week never leaves you with nothing."""
    limit = now - dt.timedelta(days=keep_days)
    return [backup for backup in found[:-1] if backup.taken < limit]
