"""`python -m stackproof.bench [name ...]`: run benches, write their figures to reports/bench/."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

BENCHES = ("foundation", "proxy", "scan", "redaction", "restore", "images", "compose")
ON_REQUEST = ("flake", "setup")  # an hour or more; downloads everything again: only when named


def main() -> int:
    parser = argparse.ArgumentParser(prog="stackproof.bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        help=f"of {', '.join(BENCHES + ON_REQUEST)} (default: all but {', '.join(ON_REQUEST)})",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args()
    if unknown := set(args.names) - set(BENCHES + ON_REQUEST):
        parser.error(f"unknown bench(es): {', '.join(sorted(unknown))}")
    out = args.root / "reports" / "bench"
    for name in args.names or BENCHES:
        module = importlib.import_module(f"stackproof.bench.{name}")
        print(f"== bench {name}", flush=True)
        document = module.run(args.root, out)
        print(json.dumps(document.get("figures", document), indent=2))
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
