"""`stackproof check` validates a profile; `stackproof plan` says, per requirement, what a
run of it will test and what it will skip (and what would enable that), starting nothing;
`stackproof up` runs its stack until Ctrl-C; `stackproof clean` removes what runs that are
gone left behind.

`stackproof images base|build` makes the container images (see stackproof.containers).

The conformance run itself is `nox -s conformance` (pytest with the stackproof plugin).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackproof.backend_registry import BACKEND_CHOICES
from stackproof.backends import Stack, select_backend
from stackproof.containers.imagecli import add_images_command, run_images
from stackproof.errors import CapabilityMissingError, StackproofError
from stackproof.leftovers.clean import clean
from stackproof.profile import load_profile
from stackproof.run import RunContext, new_run_id
from stackproof.signals import treat_termination_as_interrupt

DEFAULT_PROFILE = Path("profiles/reference.toml")


def endpoints(stack: Stack) -> dict[str, Any]:
    """What a client of the running stack needs: the front, its trust anchor, the services."""
    front = stack.public
    services = {}
    for service in stack.services():
        endpoint = service.endpoint()
        services[service.name] = {
            "kind": service.kind,
            "address": endpoint.address,
            "url": endpoint.url() if service.kind == "app" else None,
        }
    return {
        "host": front.host,
        "https_url": front.https_url("/").rstrip("/"),
        "https_address": front.https.address,
        "http_url": (front.http_url("/") or "").rstrip("/") or None,
        "ca_bundle": str(front.ca_bundle) if front.ca_bundle else None,
        "services": services,
        "run_id": stack.run.run_id,
        "logs": str(stack.run.run_dir / "logs"),
        "ops": _ops(stack),
        "faults": _faults(stack),
    }


def _ops(stack: Stack) -> dict[str, Any] | None:
    """Where the stack's ops scripts find their config and service control (README: by hand)."""
    try:
        ops = stack.ops()
    except CapabilityMissingError:
        return None
    return {
        "config": str(ops.config) if ops.config else None,
        "control": str(ops.control),
        "backups": str(ops.backup_dir),
        "releases": str(ops.releases_dir),
    }


def _faults(stack: Stack) -> dict[str, Any] | None:
    """The fault proxy's API and each link's proxy, for poking with any Toxiproxy client."""
    if stack.network is None:
        return None
    return {
        "toxiproxy_api": stack.network.url,
        "links": {
            name: {"proxy": link.proxy, "listen": link.listen.address}
            for name, link in sorted(stack.network.links.items())
        },
    }


def _check(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    backend, reason = select_backend(args.backend or profile.backend)
    backend.check(profile)
    print(f"{args.profile}: valid; {len(profile.services)} services; backend {reason}")
    return 0


def _plan(args: argparse.Namespace) -> int:
    # Imported here: collecting the suites is pytest's work, which the other commands skip.
    from stackproof.coverage.collect import collect  # noqa: PLC0415
    from stackproof.coverage.plan import plan_json, plan_requirements, render_plan  # noqa: PLC0415
    from stackproof.coverage.table import needs_table  # noqa: PLC0415

    collected = collect(
        args.profile,
        args.backend,
        allow_destructive=args.allow_destructive,
        requirements=args.requirement,
    )
    rows = plan_requirements(collected.tests)
    if args.requirement:
        rows = [row for row in rows if row.id in args.requirement]
    if args.needs_table:
        print(needs_table(rows))
    elif args.json:
        print(json.dumps({"backend": collected.backend, "requirements": plan_json(rows)}, indent=2))
    else:
        header = f"{args.profile} on the {collected.backend} backend ({collected.backend_reason})"
        print(render_plan(rows, header))
    return 0


def _up(args: argparse.Namespace) -> int:
    treat_termination_as_interrupt()
    profile = load_profile(args.profile)
    backend, reason = select_backend(args.backend or profile.backend)
    backend.check(profile)
    run_id = args.run_id or new_run_id()
    run = RunContext(run_id, args.reports_dir / run_id)
    print(f"bringing up {profile.name} ({reason})", file=sys.stderr)
    with backend.up(profile, run, "main") as stack:
        document = json.dumps(endpoints(stack), indent=2)
        if args.endpoints_file:
            args.endpoints_file.write_text(document + "\n", "utf-8")
        print(document, flush=True)
        print("the stack is up; Ctrl-C stops it and removes what it made", file=sys.stderr)
        try:
            threading.Event().wait()  # until Ctrl-C or SIGTERM
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
    return 0


def _clean(args: argparse.Namespace) -> int:
    """Remove what gone runs left (processes, folders, iptables chains, locks); touch nothing
    of a live run. Exit 1 if something could not be removed (it stays for the next try)."""
    report = clean(dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for leftover in report.removed:
        print(f"{verb}: {leftover.cleaner}: {leftover.what}")
    for leftover, reason in report.failed:
        print(f"could not remove: {leftover.cleaner}: {leftover.what}: {reason}", file=sys.stderr)
    if report.markers and not args.dry_run:
        print(f"removed the markers of {len(report.markers)} gone harnesses")
    if report.nothing:
        print("nothing left behind by gone runs")
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stackproof", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, summary in (
        ("check", "validate a profile"),
        ("plan", "say what a run will test and skip, and why, starting nothing"),
        ("up", "run a stack until Ctrl-C"),
    ):
        command = commands.add_parser(name, help=summary)
        command.add_argument("--profile", type=Path, default=DEFAULT_PROFILE)
        command.add_argument("--backend", choices=BACKEND_CHOICES)
    planning = commands.choices["plan"]
    planning.add_argument(
        "--allow-destructive", action="store_true", help="as the run would be given it"
    )
    planning.add_argument(
        "--requirement", action="append", default=[], metavar="ID", help="as the run's option"
    )
    planning.add_argument("--json", action="store_true", help="the plan as JSON")
    planning.add_argument(
        "--needs-table", action="store_true", help="the README's table of what each needs"
    )
    up = commands.choices["up"]
    up.add_argument("--reports-dir", type=Path, default=Path("reports"))
    up.add_argument("--run-id")
    up.add_argument("--endpoints-file", type=Path, help="also write the endpoints JSON here")
    cleaning = commands.add_parser("clean", help="remove what runs that are gone left behind")
    cleaning.add_argument("--dry-run", action="store_true", help="only say what would go")
    add_images_command(commands)
    args = parser.parse_args(argv)
    try:
        handlers = {
            "check": _check,
            "plan": _plan,
            "up": _up,
            "clean": _clean,
            "images": run_images,
        }
        return handlers[args.command](args)
    except StackproofError as error:
        print(f"stackproof: {error}", file=sys.stderr)
        for note in getattr(error, "__notes__", []):
            print(note, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
