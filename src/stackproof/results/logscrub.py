"""The service logs a run keeps, scrubbed of the run's secrets when it ends.

A stack that prints one of its secrets (a server quoting the init file it could not read,
say) would otherwise carry it into the report folder. Whether the stack leaks is for the
redaction suite to judge while the run goes on; the folder only has to stay clean. Bytes
that are not UTF-8 are kept as they were.
"""

from __future__ import annotations

from pathlib import Path

from stackproof.run import SecretRegistry


def scrub_logs(logs_dir: Path, secrets: SecretRegistry) -> list[str]:
    """Replace every known secret in the files under `logs_dir`; the labels of those found."""
    found: set[str] = set()
    if not logs_dir.is_dir():
        return []
    for path in sorted(logs_dir.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="surrogateescape")
        scrubbed, labels = secrets.scrub(text)
        if labels:
            path.write_bytes(scrubbed.encode("utf-8", errors="surrogateescape"))
            found.update(labels)
    return sorted(found)
