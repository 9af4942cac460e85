"""Where stackproof keeps what outlives a run on purpose (safe to delete at any time)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "STACKPROOF_CACHE_DIR"


def cache_dir() -> Path:
    """$STACKPROOF_CACHE_DIR, else /var/cache/stackproof as root (readable by the unprivileged
    PostgreSQL user), else $XDG_CACHE_HOME/stackproof."""
    if configured := os.environ.get(CACHE_ENV):
        return Path(configured)
    if os.geteuid() == 0:  # not procs.is_root: procs depends on this module
        return Path("/var/cache/stackproof")
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stackproof"
