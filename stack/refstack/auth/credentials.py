"""Write the AniList client credentials file the auth service reads (a setup step):
`python -m refstack.auth.credentials PATH`, from ANILIST_CLIENT_ID and ANILIST_CLIENT_SECRET."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(path: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "client_id": os.environ["ANILIST_CLIENT_ID"],
        "client_secret": os.environ["ANILIST_CLIENT_SECRET"],
    }
    target.write_text(json.dumps(document), encoding="utf-8")
    target.chmod(0o600)


if __name__ == "__main__":
    main(sys.argv[1])
