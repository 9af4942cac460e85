"""What a script did, as it does it: a line for people on stdout, a JSON line for machines.

`--events FILE` (or `OPS_EVENTS`) appends one JSON object per event: `t` is monotonic
seconds (comparable across processes of one host), `at` the wall clock in UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import Any


class Events:
    def __init__(self, script: str, path: str | Path | None = None) -> None:
        self.script = script
        chosen = path or os.environ.get("OPS_EVENTS")
        self.path = Path(chosen) if chosen else None

    def emit(self, event: str, message: str = "", **facts: Any) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
        print(f"{self.script}: {event}{': ' + message if message else ''}", flush=True)
        if self.path is not None:
            record = {"t": time.monotonic(), "at": now, "script": self.script, "event": event}
            record.update(facts)
            if message:
                record["message"] = message
            with self.path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(record, default=str) + "\n")

    def fail(self, event: str, message: str, **facts: Any) -> None:
        """An event that ends the script: also on stderr, where cron mails it."""
        self.emit(event, message, **facts)
        print(f"{self.script}: {message}", file=sys.stderr, flush=True)
