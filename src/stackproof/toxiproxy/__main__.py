"""`python -m stackproof.toxiproxy`: run the server until SIGINT or SIGTERM.

The first line on stdout is the API's URL (e.g. `http://127.0.0.1:40123`), printed once the
server listens and any `--config` proxies exist, so a harness can start it with `--port 0`
and read the port. Logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from stackproof.toxiproxy.server import DEFAULT_PORT, ToxiproxyServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stackproof.toxiproxy",
        description="A server speaking the Toxiproxy v2 HTTP API, for loopback fault injection.",
    )
    # `-host`, `-port` and `-config` are toxiproxy-server's own spellings (Go flags), so a
    # harness can start either server with the same arguments.
    parser.add_argument(
        "--host", "-host", default="127.0.0.1", help="API address (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        "-port",
        type=int,
        default=DEFAULT_PORT,
        help=f"API port, 0 for any (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--config",
        "-config",
        type=Path,
        help="JSON list of proxies to create at start, as POST /populate",
    )
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow the API and proxies to listen on addresses other than loopback",
    )
    parser.add_argument("--seed", type=int, help="seed for toxicity, jitter and slicer draws")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return parser


async def _serve(args: argparse.Namespace) -> int:
    server = ToxiproxyServer(
        args.host, args.port, allow_non_loopback=args.allow_non_loopback, seed=args.seed
    )
    try:
        await server.start()
        if args.config is not None:
            await server.populate(json.loads(args.config.read_text()))
    except (OSError, ValueError) as error:
        await server.stop()
        print(f"toxiproxy: {error}", file=sys.stderr)
        return 1
    print(server.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    return asyncio.run(_serve(args))


if __name__ == "__main__":
    sys.exit(main())
