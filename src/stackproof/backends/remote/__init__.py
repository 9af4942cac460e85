"""The remote backend: an already running stack (staging), reached by its URLs and, where the
profile names the host (`[remote] ssh = "deploy@host"`), over one SSH connection.

With SSH the backend reads logs, controls the services the profile allows, reaches the
stack's files, and gives the host suite (R-HOST-*, R-TLS-8) the host itself; without it only
the HTTP and TLS checks run and the report says which checks were skipped for that reason.
Destructive checks run only with `environment = "staging"` and `--allow-destructive`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from stackproof.backends.base import Backend, FileAccess, OpsAccess, ScriptProcess, Stack
from stackproof.backends.hosts import HostAccess
from stackproof.backends.remote.files import SshFiles
from stackproof.backends.remote.front import pinned, planned_front
from stackproof.backends.remote.ops import remote_ops, through_forward
from stackproof.backends.remote.runtimes import runtime_of
from stackproof.backends.remote.scripts import SshScript
from stackproof.backends.remote.secrets import read_secrets
from stackproof.backends.remote.services import RemoteService, StagingHost
from stackproof.backends.remote.ssh import SshHost, SshTarget
from stackproof.backends.values import Capability, Offer, PublicFront
from stackproof.errors import (
    BackendUnavailableError,
    CapabilityMissingError,
    ProfileError,
    ServiceStartError,
)
from stackproof.fakes.discord import DiscordSigner
from stackproof.profile import Profile
from stackproof.profile.remote import resolve_path
from stackproof.readiness import TcpPort, wait_for
from stackproof.run import RunContext

__all__ = ["RemoteBackend", "RemoteStack"]

REACH_TIMEOUT_S = 5.0


def ssh_target(profile: Profile) -> SshTarget | None:
    settings = profile.remote
    if settings.ssh is None:
        return None
    assert settings.user is not None  # validated with ssh
    assert settings.host is not None
    identity = settings.identity_file
    return SshTarget(
        user=settings.user,
        host=settings.host,
        port=settings.port,
        known_hosts=resolve_path(settings.known_hosts, profile.source),
        identity_file=None if identity is None else resolve_path(identity, profile.source),
        timeout_s=settings.connect_timeout_s,
    )


def remote_capabilities(profile: Profile) -> frozenset[Capability]:
    """What a remote stack of `profile` can do. A capability the suites rely on for the
    whole stack is claimed only when every service has it: a suite reading every service's
    log would otherwise meet a service on another host halfway through (each service still
    offers what it can)."""
    over_ssh = profile.remote.ssh is not None
    runtimes = profile.remote.services if over_ssh else {}
    capabilities = set()
    everywhere = set(runtimes) >= set(profile.services)
    if runtimes and everywhere:
        capabilities.add(Capability.LOGS)
    if runtimes and everywhere and all(s.control for s in runtimes.values()):
        capabilities.add(Capability.CONTROL)
    if over_ssh:
        capabilities.add(Capability.FILES)
    if over_ssh and profile.remote.ops is not None and profile.ops is not None:
        capabilities.add(Capability.OPS)
    return frozenset(capabilities)


class RemoteStack(Stack):
    def __init__(
        self,
        profile: Profile,
        run: RunContext,
        label: str,
        host: SshHost | None,
        secrets: Mapping[str, str],
    ) -> None:
        super().__init__(profile, run, label)
        self._front = planned_front(profile)
        self._ssh = host
        self._closing = ExitStack()  # forwards opened for administrator DSNs and services
        self._admin_urls: dict[str, str] = {}
        self._forwards: dict[str, str] = {}  # host address → the URL of its forward here
        self._secrets = dict(secrets)
        runtimes = profile.remote.services if host is not None else {}
        assert host is not None or not runtimes
        self._runtimes = (
            {n: runtime_of(host, n, s, run.secrets) for n, s in runtimes.items()} if host else {}
        )
        self.capabilities = remote_capabilities(profile)

    @property
    def public(self) -> PublicFront:
        return self._front

    def pin_addresses(self) -> None:
        if self.profile.remote.connect.https is None:
            self._front = pinned(self._front)

    def service(self, name: str) -> RemoteService:
        spec = self.profile.services[name]
        runtime = self.profile.remote.services.get(name)
        admin = None
        if runtime is not None and runtime.admin_secret is not None and self._ssh is not None:
            secret = runtime.admin_secret
            admin = lambda: self._admin_url(secret)  # noqa: E731 - bound late, used rarely
        url = spec.remote.url if spec.remote else None
        if url is None and runtime is not None and runtime.listen and self._ssh is not None:
            url = self._forwarded_url(runtime.listen)
        return RemoteService(
            name,
            spec.kind,
            url,
            self._runtimes.get(name),
            admin,
        )

    def _admin_url(self, secret: str) -> str:
        """The administrator DSN, reaching the database through the SSH connection (a
        forward kept open for the stack's life), with its CA file brought here."""
        if secret not in self._admin_urls:
            dsn = self.secret(secret)
            assert self._ssh is not None  # service() offers this only with a host
            self._admin_urls[secret] = through_forward(
                dsn, self._ssh, self._closing, self.run.run_dir / f"admin-{secret}-ca.pem"
            )
        return self._admin_urls[secret]

    def _forwarded_url(self, listen: str) -> str:
        """`http://` to `listen` on the host, through a forward of the SSH connection kept
        open for the stack's life (one per address)."""
        if listen not in self._forwards:
            assert self._ssh is not None
            server, _, port = listen.rpartition(":")
            endpoint = self._closing.enter_context(self._ssh.forward(server, int(port)))
            self._forwards[listen] = endpoint.url("http")
        return self._forwards[listen]

    def close(self) -> None:
        self._closing.close()

    def host(self) -> HostAccess:
        if self._ssh is None:
            raise CapabilityMissingError(
                "the profile names no host to reach over SSH", enable="remote.ssh"
            )
        return StagingHost(self._ssh, self._runtimes)

    def files(self) -> FileAccess:
        if self._ssh is None:
            return super().files()
        return SshFiles(self._ssh)

    def ops(self) -> OpsAccess:
        if self._ssh is None or self.profile.remote.ops is None or self.profile.ops is None:
            raise CapabilityMissingError(
                "the profile does not say where the stack's ops scripts live on the host",
                enable="[ops] and remote.ops (with remote.ssh)",
            )
        return remote_ops(self.profile.ops, self.profile.remote.ops, self.profile.backup_database())

    def start_script(
        self, operation: str, args: Sequence[str], env: Mapping[str, str], log_path: Path
    ) -> ScriptProcess:
        ops = self.ops()
        assert self._ssh is not None  # ops() demands it
        return SshScript(
            self._ssh, ops.command(operation, *args), cwd=ops.cwd, env={**ops.env, **env},
            log_path=log_path,
        )  # fmt: skip

    def signer(self) -> DiscordSigner:
        """Interactions signed with the key of the test application the staging bot trusts."""
        name = self.profile.remote.discord_key_secret
        if name is None:
            raise CapabilityMissingError(
                "the harness holds no private key of the Discord application this stack "
                "trusts, so it cannot sign interactions",
                enable="remote.discord_key_secret (a test application's key, from remote.secrets)",
            )
        try:
            return DiscordSigner.from_private_key_hex(self.secret(name))
        except ValueError as error:
            raise ProfileError(f"remote.discord_key_secret ({name}): {error}") from None

    def secret(self, name: str) -> str:
        if name in self._secrets:
            return self._secrets[name]
        raise CapabilityMissingError(
            f"the value of the secret {name!r} of the running stack is not given",
            enable=f"remote.secrets.{name} (an environment variable or a file)",
        )


class RemoteBackend(Backend):
    name = "remote"
    destructive_ok = False

    def offer(self, profile: Profile) -> Offer:
        no_signer = None
        if profile.remote.discord_key_secret is None:
            no_signer = (
                "the harness holds no private key of the Discord application this stack "
                "trusts, so it cannot sign interactions (to enable: remote.discord_key_secret, "
                "a test application's key, from remote.secrets)"
            )
        return Offer(
            remote_capabilities(profile),
            no_host=None
            if profile.remote.ssh
            else "the profile names no host to reach over SSH (to enable: remote.ssh)",
            no_signer=no_signer,
            no_fault_links="the remote backend does not run links through a fault proxy",
            no_partitions="the remote backend cannot partition services",
            no_dependency_files="the remote backend cannot take a service's dependency files "
            "away yet (to enable: --backend=process)",
            no_setting_changes="the remote backend does not restart a host's services with "
            "their settings changed (to enable: --backend=process)",
            held_secrets=frozenset(profile.remote.secrets),
        )

    def check(self, profile: Profile) -> None:
        if profile.public.remote is None:
            raise ProfileError(
                "public.remote.https_url: the remote backend needs the URL of the running "
                "stack's HTTPS front (and public.remote.http_url for the redirect checks)"
            )
        read_secrets(profile.remote.secrets, profile.source)  # a secret not set: stop here
        target = ssh_target(profile)
        identity = None if target is None else target.identity_file
        if identity is not None and not identity.is_file():
            raise ProfileError(f"remote.identity_file: {identity} does not exist")

    @contextmanager
    def up(self, profile: Profile, run: RunContext, label: str) -> Iterator[RemoteStack]:
        secrets = read_secrets(profile.remote.secrets, profile.source)
        for name, value in secrets.items():
            run.secrets.add(f"remote secret {name}", value)  # kept out of every report
        target = ssh_target(profile)
        host = None if target is None else SshHost(target, sudo=profile.remote.sudo)
        try:
            if host is not None:
                host.open()  # a refused key or an unknown host is told before any check
            stack = RemoteStack(profile, run, label, host, secrets)
            if host is not None and profile.remote.ops is not None:
                host.run(f"mkdir -p -m 0700 {shlex.quote(profile.remote.ops.folder)}/events")
            _reach(stack.public)
            stack.pin_addresses()
            try:
                yield stack
            finally:
                stack.close()
        finally:
            if host is not None:
                host.close()


def _reach(front: PublicFront) -> None:
    https = front.https
    try:
        wait_for(
            TcpPort(https.host, https.port, timeout_s=2.0),
            timeout_s=REACH_TIMEOUT_S,
            what=f"remote stack at {https.address}",
            interval_s=0.5,
        )
    except ServiceStartError as error:
        raise BackendUnavailableError(
            f"the remote stack at {https.address} is unreachable ({error}). "
            "Check public.remote.https_url (and remote.connect), DNS, and that the host is up"
        ) from None
