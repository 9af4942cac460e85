"""The compose backend: a stack as one Docker Compose v2 project, reached on 127.0.0.1.

`compose.file` is the stack's compose file (the reference one, `compose/docker-compose.yml`,
or the user's own) and `compose.services` maps the profile's services to it; stackproof only
adds an override (`override.py`). Images: stackproof's reference images are built from
`compose/` when the profile asks (`compose.build_images`), a user's `build:` services by
`compose build`, nothing is ever pulled.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import ClassVar

import docker

from stackproof.backends.base import Backend
from stackproof.backends.compose.host import NOT_THE_STACKS
from stackproof.backends.compose.readiness import generic_problems
from stackproof.backends.compose.stack import USERLAND_PROXY, ComposeStack
from stackproof.backends.values import NO_PROXY_LINKS, Offer
from stackproof.containers import engine, images
from stackproof.errors import BackendUnavailableError, ProfileError
from stackproof.leftovers.clean import clean_once
from stackproof.leftovers.harness import Harness
from stackproof.ports import PortInUseError
from stackproof.profile import Profile
from stackproof.profile.compose import ComposeSettings
from stackproof.run import RunContext

__all__ = ["ComposeBackend", "ComposeStack"]

PROJECT_ROOT = Path(__file__).resolve().parents[4]  # a checkout: compose/ and stack/ are here


def settings_of(profile: Profile) -> ComposeSettings:
    if profile.compose is None:
        raise ProfileError(
            "compose: the profile has no [compose] section naming its compose file; "
            "add one (see profiles/reference.toml), or use --backend=process"
        )
    base = profile.source.parent if profile.source is not None else Path.cwd()
    return profile.compose.resolved(base, profile.stack.root)


class ComposeBackend(Backend):
    name = "compose"

    @classmethod
    def unavailable(cls) -> str | None:
        status = engine.engine_status()
        if not status.available:
            return status.reason
        try:
            engine.compose_command()
        except BackendUnavailableError as error:
            return str(error)
        return None

    def check(self, profile: Profile) -> None:
        settings = settings_of(profile)
        if not settings.file.is_file():
            raise ProfileError(f"compose.file: {settings.file} does not exist")
        for path in [*settings.overrides, *([settings.env_file] if settings.env_file else [])]:
            if not path.is_file():
                raise ProfileError(f"compose: {path} does not exist")
        for name in settings.services:
            if name not in profile.services:
                raise ProfileError(f"compose.services.{name}: the profile has no such service")
        for name, spec in profile.services.items():
            ports = settings.settings(name).ports
            missing = [port for port in spec.ports if port not in ports]
            if missing:
                raise ProfileError(
                    f"compose.services.{name}.ports: which port of the container is each of "
                    f"{', '.join(missing)}? (e.g. ports = {{ {missing[0]} = 8000 }})"
                )
        # The health checks are in the compose file, read as the stack comes up: only the
        # readiness commands are known to be refused now.
        if problems := generic_problems(profile, has_healthcheck=lambda _: True):
            raise ProfileError("; ".join(problems))
        if (settings.inputs == "reference" or settings.build_images) and profile.stack.root is None:
            raise ProfileError("stack.root: the reference inputs and images need the stack tree")

    _built: ClassVar[dict[tuple[str, str, bool], dict[str, str]]] = {}

    def _images(
        self, client: docker.DockerClient, profile: Profile, run: RunContext
    ) -> dict[str, str]:
        settings = settings_of(profile)
        needs_proxy = profile.faults.proxy_links and settings.toxiproxy_image is None
        if not settings.build_images and not needs_proxy:
            return {}
        names = None if settings.build_images else ["toxiproxy"]
        sources = images.ImageSources.at(
            PROJECT_ROOT, profile.stack.root if settings.build_images else None
        )
        key = (run.run_id, str(profile.stack.root), settings.build_images)
        if key in self._built:  # once per run: every stack of a run has the same images
            return self._built[key]
        # The project's own stack tree builds images for reuse (tagged `latest` too, which a
        # user's file may name); any other tree (a mutant's) builds the run's, which go
        # with it.
        own_tree = profile.stack.root is not None and (
            profile.stack.root.resolve() == (PROJECT_ROOT / "stack").resolve()
        )
        built = images.build_images(
            client,
            sources,
            images.BuildSettings(
                base_image=settings.base_image,
                run_id=None if own_tree or not settings.build_images else run.run_id,
                harness_id=Harness.current().id,
                log_dir=run.run_dir / "logs" / "images",
            ),
            names=names,
        )
        self._built[key] = built.env()
        return self._built[key]

    def offer(self, profile: Profile) -> Offer:
        links = any(spec.links for spec in profile.services.values())
        no_links = None
        if not profile.faults.proxy_links:
            no_links = NO_PROXY_LINKS
        elif not links:
            no_links = "no service links to another (to enable: services.<name>.links)"
        return Offer(
            ComposeStack.capabilities,
            no_fault_links=no_links,
            no_distinct_clients=USERLAND_PROXY,
            no_host_commands=f"{NOT_THE_STACKS} (to enable: backend remote (a staging host))",
            no_dependency_files="the compose backend cannot take a service's dependency files "
            "away yet (to enable: --backend=process)",
            no_setting_changes="the compose backend cannot restart a service with a setting "
            "taken away yet (to enable: --backend=process)",
        )

    @contextmanager
    def up(self, profile: Profile, run: RunContext, label: str) -> Iterator[ComposeStack]:
        clean_once()  # what gone runs left: their containers, networks, volumes, ports
        settings = settings_of(profile)
        compose = engine.compose_command()
        with closing(engine.connect()) as client:
            built = self._images(client, profile, run)
            proxy_image = settings.toxiproxy_image or built.get("TOXIPROXY_IMAGE")
            image_vars = {k: v for k, v in built.items() if k != "TOXIPROXY_IMAGE"}

            def make(avoid: tuple[int, ...] = ()) -> ComposeStack:
                return ComposeStack(
                    profile, run, label, settings=settings, compose=compose, client=client,
                    images=image_vars, proxy_image=proxy_image, avoid=avoid,
                )  # fmt: skip

            stack = make()
            try:
                stack.bring_up()
            except PortInUseError as conflict:
                note = f"{conflict}; the stack was started again with fresh ports for it"
                run.record("port_conflict", stack=label, ports=conflict.ports, retried=True)
                stack = make(avoid=tuple(conflict.ports))
                stack.notes.append(note)
                stack.bring_up()
            try:
                yield stack
            finally:
                stack.tear_down()
