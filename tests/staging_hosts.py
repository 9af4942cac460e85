"""Staging hosts made inside the run: an app host (systemd, sshd, nftables, fail2ban, nginx and
the reference stack as units) and a database host beside it (PostgreSQL 17 and Redis, TLS
only), on a Docker network of the run's own.

The harness reaches the app host only through ports Docker publishes on 127.0.0.1 (its sshd,
its HTTPS and HTTP); the database host publishes nothing. Every container and network carries
`org.stackproof.run=<run id>` and is removed when the site closes, also after a failure or
Ctrl-C; a site whose harness was killed is swept by the next one (`sweep_orphans`). Images
are cached by the content they are built from (`org.stackproof.cache=staging-host`), so a
second run starts in seconds. All container handling of these tests lives in this module.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support import ROOT

from stackproof.containers.images import IMAGES, STACKPROOF_PARTS
from stackproof.containers.wheels import named_requirements
from stackproof.profile.template import render
from stackproof.readiness import Check, CommandSucceeds, wait_for
from stackproof.tls_ca import RunCA

LABEL = "org.stackproof.run"
OWNER_LABEL = "org.stackproof.owner-pid"
CACHE_LABEL = "org.stackproof.cache"
CONTEXT = ROOT / "compose" / "staging-host"
BASE_IMAGE = "stackproof/base:bookworm"
PUBLIC_HOST = "staging.stackproof.test"
DB_HOST = "dbhost"
APP_HOST = "apphost"
BUILD_TIMEOUT_S = 1800
UP_TIMEOUT_S = 180
SECRET_NAMES = (
    "postgres_password", "redis_password", "userid_hash_salt", "auth_api_key",
    "oauth_context_key", "token_encryption_key", "anilist_client_secret",
    "anilist_token_canary", "discord_bot_token", "canary_token", "postgres_admin_password",
)  # fmt: skip


def docker(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=check
    )


def engine_unavailable() -> str | None:
    """Why these tests cannot run here, or None."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    try:
        done = docker("info", "--format", "{{.ServerVersion}}", timeout=20, check=False)
    except subprocess.TimeoutExpired:
        return "the Docker engine does not answer"
    if done.returncode != 0:
        return f"no Docker engine answers ({done.stderr.strip()[:200]})"
    if docker("image", "inspect", BASE_IMAGE, check=False).returncode != 0:
        return f"the base image {BASE_IMAGE} is not on this machine"
    return None


# --- images, cached by content ----------------------------------------------------------


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


# What the host's Python runs of stackproof: its fakes (the AniList unit, the Sentry
# container), with what they import of stackproof and beyond the stack's own requirements
# — the same parts and packages as the reference stack's Python image, which a test holds
# to the fakes' imports (tests/containers/test_container_parts.py).
STACKPROOF_DIR = ROOT / "src" / "stackproof"
FAKES_PACKAGES = next(spec.packages for spec in IMAGES if spec.name == "python")


def _requirements() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    stack_group = [r for r in pyproject["dependency-groups"]["stack"] if isinstance(r, str)]
    fakes = named_requirements(ROOT / "pyproject.toml", FAKES_PACKAGES)
    extra = [
        line.strip()
        for line in (CONTEXT / "requirements.txt").read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return sorted({*stack_group, *fakes, *extra})


def content_hash(*folders: Path, extra: str = "") -> str:
    """A digest of the files under `folders` (a file counts as a folder of itself)."""
    digest = hashlib.sha256(extra.encode())
    for folder in folders:
        for path in [folder] if folder.is_file() else _files(folder):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _wheels(requirements: list[str]) -> Path:
    """Wheels for the host's Python, built here once per requirement set."""
    key = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:16]
    folder = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "stackproof"
        / f"wheels-{key}"
    )
    if not (folder / ".complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
             "--wheel-dir", str(folder), *requirements],
            check=True, timeout=BUILD_TIMEOUT_S,
        )  # fmt: skip
        (folder / ".complete").touch()
    return folder


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    seconds: float  # 0 when it was already there
    cached: bool


def _build(tag: str, dockerfile: str, context: Path) -> None:
    done = subprocess.run(
        ["docker", "build", "--quiet", "--force-rm", "--label", f"{CACHE_LABEL}=staging-host",
         "--build-arg", f"BASE={BASE_IMAGE}", "-f", str(context / dockerfile), "-t", tag,
         str(context)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"docker build of {tag} failed:\n{done.stderr[-4000:]}")
    _prune_older(tag)


def _prune_older(tag: str) -> None:
    """Older builds of the same image (ours: they carry the cache label) are superseded."""
    repository = tag.partition(":")[0]
    listed = docker("images", "--filter", f"label={CACHE_LABEL}=staging-host",
                    "--format", "{{.Repository}}:{{.Tag}}", repository, check=False)  # fmt: skip
    older = [name for name in listed.stdout.split() if name != tag and name.startswith(repository)]
    if older:
        docker("rmi", *older, check=False, timeout=300)


def host_image() -> BuiltImage:
    requirements = _requirements()
    tag = "stackproof/staging-host:" + content_hash(
        CONTEXT, ROOT / "stack" / "refstack", ROOT / "stack" / "ops",
        *(STACKPROOF_DIR / part for part in STACKPROOF_PARTS),
        extra="\n".join(requirements),
    )  # fmt: skip
    if docker("image", "inspect", tag, check=False).returncode == 0:
        return BuiltImage(tag, 0.0, cached=True)
    started = time.monotonic()
    wheels = _wheels(requirements)
    with tempfile.TemporaryDirectory(prefix="stackproof-staging-build-") as temp:
        context = Path(temp)
        shutil.copytree(CONTEXT, context, dirs_exist_ok=True)
        shutil.copytree(wheels, context / "wheels", ignore=shutil.ignore_patterns(".complete"))
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(ROOT / "stack" / "refstack", context / "app" / "refstack", ignore=ignore)
        shutil.copytree(ROOT / "stack" / "ops", context / "app" / "ops", ignore=ignore)
        package = context / "lib" / "stackproof"
        package.mkdir(parents=True)
        for part in STACKPROOF_PARTS:
            if (STACKPROOF_DIR / part).is_dir():
                shutil.copytree(STACKPROOF_DIR / part, package / part, ignore=ignore)
            else:
                shutil.copy(STACKPROOF_DIR / part, package / part)
        _build(tag, "host.Dockerfile", context)
    return BuiltImage(tag, time.monotonic() - started, cached=False)


def db_image() -> BuiltImage:
    tag = "stackproof/staging-db:" + content_hash(CONTEXT / "db.Dockerfile", CONTEXT / "files")
    if docker("image", "inspect", tag, check=False).returncode == 0:
        return BuiltImage(tag, 0.0, cached=True)
    started = time.monotonic()
    _build(tag, "db.Dockerfile", CONTEXT)
    return BuiltImage(tag, time.monotonic() - started, cached=False)


def content_hash_of_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


# --- keys and seeds -----------------------------------------------------------------------


def _openssh_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )


def _openssh_public(key: Ed25519PrivateKey, comment: str) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return f"{public.decode()} {comment}\n"


@dataclass
class Keys:
    folder: Path
    client: Path = field(init=False)
    other_client: Path = field(init=False)  # a key the host does not know: the wrong key
    host_private: bytes = field(init=False, repr=False)
    host_public: str = field(init=False)
    client_public: str = field(init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        client, other, host = (Ed25519PrivateKey.generate() for _ in range(3))
        self.client = self.folder / "id_ed25519"
        self.other_client = self.folder / "other_ed25519"
        for path, key in ((self.client, client), (self.other_client, other)):
            path.touch(mode=0o600)
            path.write_bytes(_openssh_private(key))
        self.host_private = _openssh_private(host)
        self.host_public = _openssh_public(host, "root@apphost")
        self.client_public = _openssh_public(client, "stackproof-harness")

    def known_hosts(self, port: int) -> Path:
        """A known_hosts file holding the host key for the host on `port` (one per host:
        hosts of one network share the key, and several may be checked at once)."""
        path = self.folder / f"known_hosts-{port}"
        path.write_text(f"[127.0.0.1]:{port} {' '.join(self.host_public.split()[:2])}\n", "utf-8")
        return path

    def host_fingerprint(self) -> str:
        key = paramiko.Ed25519Key(data=_key_blob(self.host_public))
        from stackproof.backends.remote.ssh import fingerprint  # noqa: PLC0415 - test helper

        return fingerprint(key)


def _key_blob(public_line: str) -> bytes:
    import base64  # noqa: PLC0415

    return base64.b64decode(public_line.split()[1])


def _nginx_config() -> str:
    template = (ROOT / "stack" / "nginx" / "nginx.conf.template").read_text("utf-8")
    context: dict[str, Any] = {
        "log": {"access": "/var/log/nginx/access.log"},
        "dir": {"state": "/var/lib/nginx/refstack"},
        "link": {"auth": {"address": "127.0.0.1:8001"}, "bot": {"address": "127.0.0.1:8002"}},
        "listen": {"http": "80", "https": "443"},
        "public": {"host": PUBLIC_HOST, "https_authority": PUBLIC_HOST},
        "tls": {"cert": "/etc/nginx/tls/front.crt", "key": "/etc/nginx/tls/front.key"},
    }
    # Debian's nginx.service runs the master as root; the template leaves user and pid to
    # the command line, so a host names them here. Debian 12's nginx (1.22) spells HTTP/2
    # on the listen line (`http2 on;` came with 1.25).
    rendered = render(template, context).replace(
        "listen 443 ssl;\n        http2 on;", "listen 443 ssl http2;"
    )
    assert "http2 on" not in rendered, "the template's HTTP/2 line changed: update this"
    return "user www-data;\npid /run/nginx.pid;\n" + rendered


def write_seed(
    folder: Path,
    *,
    role: str,
    ca: RunCA,
    names: list[str],
    stack_secrets: Mapping[str, str],
    keys: Keys,
    variant: Mapping[str, Any],
) -> Path:
    (folder / "tls").mkdir(parents=True)
    (folder / "ssh").mkdir()
    # One certificate file per seed: hosts of one network are made side by side.
    certificate = ca.issue(folder.name, names, valid_days=90)
    shutil.copy(ca.ca_path, folder / "tls" / "ca.pem")
    shutil.copy(certificate.cert_path, folder / "tls" / "server.crt")
    shutil.copy(certificate.key_path, folder / "tls" / "server.key")
    (folder / "ssh" / "ssh_host_ed25519_key").write_bytes(keys.host_private)
    (folder / "ssh" / "ssh_host_ed25519_key.pub").write_text(keys.host_public, "utf-8")
    (folder / "ssh" / "authorized_keys").write_text(keys.client_public, "utf-8")
    (folder / "nginx.conf").write_text(_nginx_config(), "utf-8")
    settings = {
        "role": role,
        "public_host": PUBLIC_HOST,
        "db_host": DB_HOST,
        "secrets": dict(stack_secrets),
        "variant": dict(variant),
    }
    (folder / "settings.json").write_text(json.dumps(settings, indent=2), "utf-8")
    for path in folder.rglob("*"):  # the container's root reads it through a bind mount
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


# --- a site: network, database host, app host --------------------------------------------


def _labels(run_id: str) -> list[str]:
    return ["--label", f"{LABEL}={run_id}", "--label", f"{OWNER_LABEL}={os.getpid()}"]


def sweep_orphans() -> list[str]:
    """Remove containers (then networks) of runs whose harness process is gone."""
    removed: list[str] = []
    owner = f'{{{{.ID}}}} {{{{.Label "{OWNER_LABEL}"}}}}'
    for listing, removal in (
        (["container", "ls", "--all"], ["container", "rm", "--force", "--volumes"]),
        (["network", "ls"], ["network", "rm"]),
    ):
        listed = docker(
            *listing, "--filter", f"label={OWNER_LABEL}", "--format", owner, check=False
        )
        for line in listed.stdout.splitlines():
            ident, _, pid = line.strip().partition(" ")
            if ident and pid.isdigit() and not _alive(int(pid)):
                docker(*removal, ident, check=False, timeout=120)
                removed.append(ident)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_run(run_id: str) -> None:
    """Every container and network of `run_id` (never anything else)."""
    containers = docker("ps", "-aq", "--filter", f"label={LABEL}={run_id}", check=False).stdout
    if ids := containers.split():
        docker("rm", "-f", "-v", *ids, check=False, timeout=120)
    networks = docker("network", "ls", "-q", "--filter", f"label={LABEL}={run_id}", check=False)
    if ids := networks.stdout.split():
        docker("network", "rm", *ids, check=False)


class _SystemRunning:
    def __init__(self, container: str) -> None:
        self.container = container
        self.description = f"systemd in {container} is up"

    def check(self) -> Check:
        done = docker("exec", self.container, "systemctl", "is-system-running", check=False)
        state = done.stdout.strip()
        return Check(state in ("running", "degraded"), state or done.stderr.strip()[:200])


@dataclass
class Network:
    """The run's network with its database host up; app hosts join it."""

    run_id: str
    name: str
    db: str
    folder: Path
    ca: RunCA
    keys: Keys
    stack_secrets: dict[str, str] = field(repr=False)
    host_image: str = ""
    # The private half of the Discord test application's key the hosts' bots trust: the
    # harness signs interactions with it (never given to the hosts).
    discord_signing_key: str = field(default="", repr=False)


@dataclass
class Site:
    network: Network
    app: str
    alias: str  # its name on the network (where the outside probe aims)
    ssh_port: int
    https_port: int
    http_port: int

    @property
    def run_id(self) -> str:
        return self.network.run_id

    @property
    def keys(self) -> Keys:
        return self.network.keys

    @property
    def ca_path(self) -> Path:
        return self.network.ca.ca_path

    def exec(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.app, *argv, check=False, timeout=60)

    def unit_log(self, unit: str) -> str:
        status = self.exec("systemctl", "status", "--no-pager", "--lines=0", unit).stdout
        journal = self.exec("journalctl", "--no-pager", "--lines=60", "--unit", unit).stdout
        return status + journal

    def unit_failed(self, *units: str) -> str | None:
        """Why waiting for `units` is pointless: one failed and will not be restarted.

        A unit systemd restarts waits in `activating (auto-restart)`; `failed` is where it
        stays (no restart policy, or its restarts came too fast for its start limit)."""
        done = self.exec(
            "systemctl", "show", "--property=Id,ActiveState,SubState,Result", *units
        )  # fmt: skip
        for block in done.stdout.split("\n\n"):  # one block a unit
            facts = dict(line.partition("=")[::2] for line in block.splitlines())
            if facts.get("ActiveState") == "failed" and facts.get("SubState") == "failed":
                return f"{facts.get('Id')} failed ({facts.get('Result')}) and will not be restarted"
        return None

    def container_failed(self, name: str) -> str | None:
        """Why waiting for the host's own container `name` is pointless: it exited for good,
        or it keeps exiting (its restart policy brings it back only to fail again)."""
        done = self.exec("docker", "inspect", "--format", "{{json .State}} {{.RestartCount}}", name)
        if done.returncode != 0:
            return f"the host's container {name} is not there ({done.stderr.strip()[:200]})"
        state_json, _, count = done.stdout.strip().rpartition(" ")
        state = json.loads(state_json)
        if state.get("Status") in ("exited", "dead") and not state.get("Restarting"):
            return f"the host's container {name} exited ({state.get('ExitCode')}) for good"
        if int(count) >= INNER_RESTARTS_GIVE_UP:
            return f"the host's container {name} keeps exiting (restarted {count} times)"
        return None

    def container_log(self, name: str) -> str:
        """The state and the log's end of the host's own container `name`."""
        listed = self.exec("docker", "ps", "--all", "--filter", f"name=^{name}$")
        tail = self.exec("docker", "logs", "--tail", "40", name)
        return f"{listed.stdout}{tail.stdout[-3000:]}{tail.stderr[-3000:]}"

    def logs(self) -> str:
        journal = self.exec("journalctl", "--no-pager", "-n", "200")
        database = docker("logs", self.network.db, check=False)
        return journal.stdout[-8000:] + database.stderr[-2000:]


def _published(container: str, port: int) -> int:
    done = docker("port", container, f"{port}/tcp")
    return int(done.stdout.split()[0].rpartition(":")[2])


def _run_container(  # noqa: PLR0917 - one docker run, its facts in order
    name: str, image: str, network: Network, alias: str, seed: Path, extra: list[str]
) -> None:
    docker(
        "run", "--detach", "--name", name, *_labels(network.run_id), "--network", network.name,
        "--network-alias", alias, "--hostname", alias,
        "--volume", f"{seed}:/srv/staging-seed:ro", *extra, image,
        timeout=120,
    )  # fmt: skip


def _stack_secrets(signing: Ed25519PrivateKey) -> dict[str, str]:
    values = {name: secrets.token_urlsafe(18) for name in SECRET_NAMES}
    public = signing.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    values["discord_public_key"] = raw.hex()
    return values


def _private_hex(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    ).hex()


@contextlib.contextmanager
def staging_network(
    folder: Path, run_id: str, *, db_in_host_image: bool = False
) -> Iterator[Network]:
    """The run's network and its database host; everything of `run_id` is removed on leaving.

    `db_in_host_image` runs the database host from the Debian 12 host image instead, whose
    PostgreSQL is 15 (the R-HOST-6 mutant)."""
    sweep_orphans()
    host = host_image()
    database_image = host.tag if db_in_host_image else db_image().tag
    signing = Ed25519PrivateKey.generate()
    network = Network(
        run_id=run_id,
        name=f"spf-{run_id}-staging",
        db=f"spf-{run_id}-{DB_HOST}",
        folder=folder,
        ca=RunCA(_folder(folder / "ca")),
        keys=Keys(folder / "keys"),
        stack_secrets=_stack_secrets(signing),
        host_image=host.tag,
        discord_signing_key=_private_hex(signing),
    )
    try:
        docker("network", "create", *_labels(run_id), network.name)
        seed = write_seed(folder / "seed-db", role="db", ca=network.ca, names=[DB_HOST],
                          stack_secrets=network.stack_secrets, keys=network.keys,
                          variant={})  # fmt: skip
        _run_container(network.db, database_image, network, DB_HOST, seed, [])
        wait_for(
            CommandSucceeds(["docker", "exec", network.db, "sh", "-c",
                             "/usr/lib/postgresql/*/bin/pg_isready -h 127.0.0.1 -q"]),
            timeout_s=UP_TIMEOUT_S, what=f"PostgreSQL on {network.db}", interval_s=0.3,
            log_tail=lambda: docker("logs", network.db, check=False).stderr[-3000:],
        )  # fmt: skip
        yield network
    finally:
        remove_run(run_id)


APP_OPTIONS = [
    # systemd as PID 1 without --privileged (this engine refuses it): a cgroup namespace of
    # its own, the capabilities systemd and nftables need, tmpfs where systemd expects them.
    "--cgroupns=private", "--cap-add=SYS_ADMIN", "--cap-add=NET_ADMIN",
    # A VM's root reads any process's working folder (/proc/<pid>/cwd, which release runs);
    # a container's root needs SYS_PTRACE for another user's process.
    "--cap-add=SYS_PTRACE",
    "--security-opt=seccomp=unconfined", "--security-opt=apparmor=unconfined",
    "--tmpfs=/run", "--tmpfs=/run/lock", "--tmpfs=/tmp", "--stop-signal=SIGRTMIN+3",
    # Reached only here, on loopback: its sshd, its HTTPS and its plain HTTP.
    "--publish=127.0.0.1::22", "--publish=127.0.0.1::443", "--publish=127.0.0.1::80",
    # The host's own Docker keeps its images on a volume of this container (overlay2 needs
    # a file system that is not itself an overlay); `docker rm -v` removes it.
    "--volume=/var/lib/docker",
]  # fmt: skip
READY_UNITS = ("ssh", "nftables", "fail2ban", "nginx", "docker", "refstack-anilist",
               "refstack-auth", "refstack-bot")  # fmt: skip
# The containers the deploy step runs on the host's own Docker.
INNER_CONTAINERS = ("refstack-sentry",)
# A container restarted this often while the stack comes up is broken, not slow: its restart
# policy would only go on bringing it back (a healthy start needs none).
INNER_RESTARTS_GIVE_UP = 3


@contextlib.contextmanager
def app_host(
    network: Network, name: str, variant: Mapping[str, Any] | None = None
) -> Iterator[Site]:
    """An app host on `network`, configured as `variant` says; removed on leaving."""
    container = f"spf-{network.run_id}-{name}"
    alias = APP_HOST if name == APP_HOST else name
    seed = write_seed(network.folder / f"seed-{name}", role="app", ca=network.ca,
                      names=[PUBLIC_HOST], stack_secrets=network.stack_secrets,
                      keys=network.keys, variant=variant or {})  # fmt: skip
    try:
        _run_container(container, network.host_image, network, alias, seed, APP_OPTIONS)
        site = Site(network, container, alias, _published(container, 22),
                    _published(container, 443), _published(container, 80))  # fmt: skip
        wait_for(_SystemRunning(container), timeout_s=UP_TIMEOUT_S,
                 what=f"the staging host {container}", interval_s=0.3,
                 log_tail=site.logs)  # fmt: skip
        for unit in READY_UNITS:
            wait_for(
                CommandSucceeds(["docker", "exec", container, "systemctl", "is-active", "--quiet", unit]),
                timeout_s=UP_TIMEOUT_S, what=f"{unit} on {container}", interval_s=0.3,
                log_tail=lambda unit=unit: site.unit_log(unit),  # type: ignore[misc]
                give_up=lambda unit=unit: site.unit_failed(unit),  # type: ignore[misc]
            )  # fmt: skip
        # The operator's deploy step: the host's containers on the host's Docker.
        deployed = site.exec("python3", "/usr/local/lib/staging/containers.py", "/srv/staging-seed")
        assert deployed.returncode == 0, deployed.stderr[-2000:]
        wait_for(
            CommandSucceeds(["docker", "exec", container, "python3", "-c", READY_SCRIPT]),
            timeout_s=UP_TIMEOUT_S, what=f"the reference stack on {container} ready",
            interval_s=0.3, log_tail=lambda: _stack_log(site),
            give_up=lambda: _stack_failed(site),
        )  # fmt: skip
        yield site
    finally:
        docker("rm", "-f", "-v", container, check=False, timeout=120)


def _stack_failed(site: Site) -> str | None:
    """Why the reference stack on `site` will not become ready: a part of it is down for good."""
    for name in INNER_CONTAINERS:
        if reason := site.container_failed(name):
            return reason
    return site.unit_failed(*READY_UNITS)


def _stack_log(site: Site) -> str:
    inner = "".join(site.container_log(name) for name in INNER_CONTAINERS)
    return f"{inner}\n{site.logs()}"


# Readiness of both services, asked on the host itself (the harness reaches only the front).
READY_SCRIPT = """
import sys, urllib.request
for port in (8001, 8002, 8102):
    path = "/_stackproof/received" if port == 8102 else "/readyz"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
        if answer.status != 200:
            sys.exit(1)
"""


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- host mutants -------------------------------------------------------------------------

HOST_MUTANT_FILE = "host-mutant.toml"


@dataclass(frozen=True)
class HostMutant:
    name: str
    description: str
    expects: tuple[str, ...]
    host: dict[str, Any]
    database: str  # "postgresql-17" (the db image) or "postgresql-15" (Debian 12's)


def host_mutants(folder: Path = ROOT / "mutants") -> list[HostMutant]:
    found = []
    for path in sorted(folder.glob(f"host-*/{HOST_MUTANT_FILE}")):
        data = tomllib.loads(path.read_text("utf-8"))
        unknown = set(data) - {"description", "expects", "host", "database"}
        assert not unknown, f"{path}: unknown keys {sorted(unknown)}"
        found.append(
            HostMutant(
                name=path.parent.name,
                description=data["description"],
                expects=tuple(data["expects"]),
                host=data.get("host", {}),
                database=data.get("database", "postgresql-17"),
            )
        )
    return found


# --- the profile a user would write for such a host ---------------------------------------

# The host's own ops scripts, as its operator would name them; the bot runs as releases
# under `releases_dir` (the deploy drills). Its backups cannot pass here:
# Debian 12 has no pg_dump 17 for the database host's PostgreSQL 17 (see the README).
OPS_TABLES = """
[ops]
backup = ["{{ python }}", "ops/backup.py"]
retention = ["{{ python }}", "ops/retention.py"]
restore = ["{{ python }}", "ops/restore.py"]
deploy = ["{{ python }}", "ops/deploy.py"]
deploy_services = ["bot"]

[remote.ops]
cwd = "/opt/refstack/app"
python = "/usr/bin/python3"
folder = "/opt/refstack/ops"
config = "/opt/refstack/ops/ops.toml"
backup_dir = "/opt/refstack/ops/backups"
releases_dir = "/opt/refstack/releases"
control = "/opt/refstack/ops/svc"
"""
# The app host's own PostgreSQL (the local-database variant), for the backup drills: its
# unit under control, its administrator DSN from a file.
LOCAL_DATABASE_TABLES = """
[remote.services.postgres]
systemd = "refstack-postgres.service"
control = true
admin_secret = "admin_dsn"
wipe = ["sudo", "-n", "/usr/local/sbin/refstack-pg-wipe"]

[remote.secrets.admin_dsn]
file = "{admin}"

[remote.secrets.canary_token]
file = "{canary}"

# The restore drills' canary: rows written through the bot, read back after a restore.
[canary]
service = "bot"
write_path = "/canary"
read_path = "/canary/latest"
table = "bot.drill_canary"
key = "seq"
token_secret = "canary_token"
"""
REQUIREMENTS = ("R-HOST-1", "R-HOST-2", "R-HOST-3", "R-HOST-4", "R-HOST-5", "R-HOST-6", "R-TLS-8")


def staging_profile(
    site: Site,
    folder: Path,
    *,
    known_hosts: Path | None = None,
    identity: Path | None = None,
    ssh_port: int | None = None,
    probe: bool = True,
    secret_file: Path | None = None,
    ops: bool = False,
    local_database: bool = False,
) -> Path:
    """The staging profile of the reference stack on `site`, as its operator would write it."""
    folder.mkdir(parents=True, exist_ok=True)
    port = ssh_port if ssh_port is not None else site.ssh_port
    known = known_hosts if known_hosts is not None else site.keys.known_hosts(site.ssh_port)
    key = identity if identity is not None else site.keys.client
    api_key = secret_file or folder / "auth_api_key"
    if secret_file is None:
        api_key.touch(mode=0o600)
        api_key.write_text(site.network.stack_secrets["auth_api_key"] + "\n", "utf-8")
    signing_key = folder / "discord_signing_key"
    signing_key.touch(mode=0o600)
    signing_key.write_text(site.network.discord_signing_key + "\n", "utf-8")
    probe_table = (
        f'[remote.probe]\naddress = "{site.alias}"\ndocker_network = "{site.network.name}"\n'
        f'image = "{site.network.host_image}"\n'
        if probe
        else ""
    )
    text = f'''
name = "reference-staging-host"
environment = "staging"
backend = "remote"
secrets = ["auth_api_key", "discord_signing_key"]

[stack]
public_host = "{PUBLIC_HOST}"

[public]
body_limit_path = "/bot/interactions"
remote = {{ https_url = "https://{PUBLIC_HOST}/", http_url = "http://{PUBLIC_HOST}/" }}

[probes.home]
path = "/"
expect = 200
service = "bot"

[probes.unknown_page]
path = "/stackproof/no-such-page"
expect = 404
service = "nginx"

[services.postgres]
kind = "postgres"

[services.redis]
kind = "redis"

[services.anilist]
kind = "app"
ports = ["http"]

[services.sentry]
kind = "app"
ports = ["http"]

[services.auth]
kind = "app"
ports = ["http"]
links = ["postgres", "redis", "anilist", "sentry"]
health = {{ liveness = "/healthz", readiness = "/readyz", public_prefix = "/auth", hard_dependencies = ["postgres"], soft_dependencies = ["redis"] }}

[services.bot]
kind = "app"
ports = ["http"]
links = ["postgres", "redis", "anilist", "sentry"]
health = {{ liveness = "/healthz", readiness = "/readyz", public_prefix = "/bot", hard_dependencies = ["postgres"], soft_dependencies = ["redis"] }}

[services.nginx]
kind = "nginx"
links = ["auth", "bot"]

# The bot's command, signed with the test application's key the staging bot trusts.
[command]
service = "bot"
path = "/bot/interactions"
name = "anime"
options = {{ query = "Cowboy Bebop" }}
answer_contains = "Cowboy Bebop"

[auth]
service = "auth"
api_key_secret = "auth_api_key"
api_key_env = "AUTH_API_KEY"
admin_path = "/auth/admin/links"
rate_limited_path = "/auth/"

[policy.tls]
ca_bundle = "{site.ca_path}"

[remote]
ssh = "deploy@127.0.0.1"
port = {port}
identity_file = "{key}"
known_hosts = "{known}"
connect = {{ https = "127.0.0.1:{site.https_port}", http = "127.0.0.1:{site.http_port}" }}
discord_key_secret = "discord_signing_key"

[remote.services.auth]
systemd = "refstack-auth.service"
env_file = "/opt/refstack/env/auth.env"
listen = "127.0.0.1:8001"

[remote.services.bot]
systemd = "refstack-bot.service"
env_file = "/opt/refstack/env/bot.env"
listen = "127.0.0.1:8002"

[remote.services.anilist]
systemd = "refstack-anilist.service"

[remote.services.sentry]
container = "refstack-sentry"

[remote.services.nginx]
systemd = "nginx.service"

[remote.secrets]
auth_api_key = {{ file = "{api_key}" }}
discord_signing_key = {{ file = "{signing_key}" }}

{probe_table}'''
    if ops or local_database:
        text += OPS_TABLES
    if local_database:
        admin = folder / "admin_dsn"
        admin.touch(mode=0o600)
        password = site.network.stack_secrets["postgres_admin_password"]
        admin.write_text(f"postgresql://postgres:{password}@127.0.0.1:5432/stack\n", "utf-8")
        text = text.replace(
            'secrets = ["auth_api_key", "discord_signing_key"]',
            'secrets = ["auth_api_key", "discord_signing_key", "admin_dsn", "canary_token"]',
        )
        canary = folder / "canary_token"
        canary.touch(mode=0o600)
        canary.write_text(site.network.stack_secrets["canary_token"] + "\n", "utf-8")
        text += LOCAL_DATABASE_TABLES.format(admin=admin, canary=canary)
    path = folder / "staging.toml"
    path.write_text(text, "utf-8")
    return path
