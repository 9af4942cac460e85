"""Discord user and guild IDs reach telemetry only hashed (R-RED-2).

The hash of an ID is `hex(blake3(salt + id))[:16]`, with the salt from `USERID_HASH_SALT`; a
service refuses to start without it. `UserIdHasher.hash_snowflakes` replaces every raw ID
(a 17 to 20 digit snowflake standing alone) in a text by its hash: put it into the service's
`Scrubber` so events, breadcrumbs and logs carry hashes only.

To find a user's events, hash their ID with the service's salt::

    USERID_HASH_SALT=... python -m refstack.common.userhash hash 123456789012345678
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from blake3 import blake3

from refstack.common.settings import SettingsError

SALT_VARIABLE: Final = "USERID_HASH_SALT"
MIN_SALT_LENGTH: Final = 8
HASH_LENGTH: Final = 16
# A Discord snowflake standing alone: not part of a longer number, word or hex string.
SNOWFLAKE: Final = re.compile(r"(?<![0-9A-Za-z])[0-9]{17,20}(?![0-9A-Za-z])")
_DISCORD_ID: Final = re.compile(r"[0-9]{1,20}")
# A quick look before the regex, which is slow on long texts: every digit becomes "0",
# everything else a space, and a snowflake needs 17 zeros in a row.
_DIGITS_ONLY: Final = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_SHORTEST_RUN: Final = b"0" * 17


@dataclass(frozen=True, slots=True)
class UserIdHasher:
    """Hashes Discord IDs with a salt that never shows (not in repr, not in an error)."""

    salt: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.salt.strip():
            raise SettingsError(f"{SALT_VARIABLE} is empty; set it to a random secret")
        if len(self.salt) < MIN_SALT_LENGTH:
            raise SettingsError(
                f"{SALT_VARIABLE} is too short; use at least {MIN_SALT_LENGTH} random characters"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UserIdHasher:
        """The hasher of this service, or SettingsError: a service never starts without it."""
        salt = (os.environ if environ is None else environ).get(SALT_VARIABLE, "")
        if not salt.strip():
            raise SettingsError(
                f"{SALT_VARIABLE} is not set; the service refuses to start without it "
                "(user and guild IDs reach telemetry only hashed with this salt)"
            )
        return cls(salt)

    def hash(self, discord_id: int | str) -> str:
        """`hex(blake3(salt + id))[:16]` of a Discord ID (decimal digits)."""
        digits = str(discord_id).strip()
        if not _DISCORD_ID.fullmatch(digits):
            raise ValueError("a Discord ID is 1 to 20 decimal digits")
        return blake3((self.salt + digits).encode()).hexdigest()[:HASH_LENGTH]

    def hash_snowflakes(self, text: str) -> str:
        """`text` with every raw Discord ID replaced by its hash."""
        if len(text) < 17:
            return text
        if _SHORTEST_RUN not in text.encode("utf-8", "surrogatepass").translate(_DIGITS_ONLY):
            return text
        return SNOWFLAKE.sub(lambda found: self.hash(found.group()), text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m refstack.common.userhash",
        description="Print the telemetry hash of a Discord user or guild ID, to find its "
        f"events. The salt comes from {SALT_VARIABLE}, as in the service.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    hash_command = commands.add_parser("hash", help="print the hash of one ID")
    hash_command.add_argument("user_id", help="a Discord user or guild ID (decimal digits)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        hasher = UserIdHasher.from_env()
    except SettingsError as error:
        print(f"userhash: {error}", file=sys.stderr)
        return 1
    try:
        print(hasher.hash(args.user_id))
    except ValueError as error:
        print(f"userhash: {args.user_id!r} is not a Discord ID: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
