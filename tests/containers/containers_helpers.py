"""Helpers of the container tests: the engine or a skip, labelled objects, the reference stack."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from docker.models.containers import Container

from stackproof.containers import engine, images, labels, reference
from stackproof.containers.watcher import Watcher
from stackproof.errors import BackendUnavailableError
from stackproof.readiness import Check
from stackproof.run import SecretRegistry, new_run_id
from stackproof.tls_ca import RunCA

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"
NGINX_TEMPLATE = ROOT / "stack" / "nginx" / "nginx.conf.template"
UP_TIMEOUT_S = 240
COMMAND_TIMEOUT_S = 300


def connect_or_skip() -> docker.DockerClient:
    try:
        return engine.connect()
    except BackendUnavailableError as error:
        pytest.skip(str(error))


def compose_or_skip() -> list[str]:
    try:
        return engine.compose_command()
    except BackendUnavailableError as error:
        pytest.skip(str(error))


@dataclass
class Engine:
    client: docker.DockerClient

    def require_image(self, name: str, hint: str) -> None:
        try:
            self.client.images.get(name)
        except docker.errors.ImageNotFound:
            pytest.skip(f"no image {name}: {hint}")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# -- labelled objects ------------------------------------------------------------------------


@dataclass
class MadeObjects:
    """A network, a volume, a running container and an image, as one run would make them."""

    run_id: str | None
    ids: dict[str, str] = field(default_factory=dict)


def _tiny_image(client: docker.DockerClient, base: str, image_labels: dict[str, str]) -> str:
    """An image of its own (a unique label, a tag: never another's build layer)."""
    unique = new_run_id().lower()
    dockerfile = (
        f'FROM {base}\nLABEL org.stackproof.test={unique}\nCMD ["sleep", "infinity"]\n'
    ).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    archive.seek(0)
    image, _ = client.images.build(
        fileobj=archive,
        custom_context=True,
        labels=image_labels,
        tag=f"stackproof-test/tiny:{unique}",
        rm=True,
        forcerm=True,
    )
    return str(image.id)


def make_objects(
    client: docker.DockerClient,
    base: str,
    run_id: str | None,
    label_value: str | None = None,
    harness_id: str | None = None,
) -> MadeObjects:
    """Objects labelled with `run_id` (or `label_value` as the run label's value; neither:
    unlabelled), and with `harness_id` as the harness label where given."""
    value = label_value if label_value is not None else run_id
    object_labels = labels.run_labels(value, harness_id) if value is not None else {}
    made = MadeObjects(run_id)
    made.ids["network"] = client.networks.create(
        f"sptest-{new_run_id().lower()}", labels=object_labels
    ).id
    made.ids["volume"] = client.volumes.create(labels=object_labels).id
    made.ids["image"] = _tiny_image(client, base, object_labels)
    container = client.containers.run(
        made.ids["image"], detach=True, labels=object_labels, network=made.ids["network"]
    )
    made.ids["container"] = str(container.id)
    return made


def remaining(client: docker.DockerClient, made: MadeObjects) -> dict[str, str]:
    """Which of the objects still exist."""
    getters = {
        "network": client.networks.get,
        "volume": client.volumes.get,
        "image": client.images.get,
        "container": client.containers.get,
    }
    left = {}
    for kind, object_id in made.ids.items():
        try:
            getters[kind](object_id)
        except docker.errors.NotFound:
            continue
        left[kind] = object_id
    return left


def remove_made(client: docker.DockerClient, made: MadeObjects) -> None:
    """The test's own cleanup, whatever the test left."""
    for kind in engine.REMOVAL_ORDER:
        object_id = made.ids.get(kind)
        if object_id is None:
            continue
        try:
            if kind == "container":
                client.containers.get(object_id).remove(force=True)
            elif kind == "network":
                client.networks.get(object_id).remove()
            elif kind == "volume":
                client.volumes.get(object_id).remove(force=True)
            else:
                client.images.remove(object_id, force=True)
        except docker.errors.NotFound:
            continue


@dataclass(frozen=True)
class NoObjectsOfRun:
    """The engine holds nothing labelled with the run ID (a readiness condition)."""

    client: docker.DockerClient
    run_id: str
    harness_id: str | None = None

    @property
    def description(self) -> str:
        return f"no engine object labelled {labels.RUN}={self.run_id}"

    def check(self) -> Check:
        left = engine.run_objects(self.client, self.run_id, self.harness_id)
        return Check(not left, ", ".join(o.describe() for o in left) or "none")


# -- the reference stack ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunningStack:
    run_id: str
    project: str
    argv: list[str]  # compose with the project, files and env file
    inputs: reference.ReferenceInputs
    ca_path: Path
    https_port: int
    http_port: int
    client: docker.DockerClient

    def containers(self) -> list[Container]:
        return self.client.containers.list(all=True, filters=labels.run_filter(self.run_id))

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv, *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )


def label_override(run_id: str, services: list[str]) -> str:
    """The part of the override the backend generates that puts the run's label everywhere."""
    run = labels.run_labels(run_id)
    document = {
        "services": {name: {"labels": run} for name in services},
        "networks": {"default": {"labels": run}},
        "volumes": {"pgdata": {"labels": run}},
    }
    return json.dumps(document, indent=2)  # JSON is YAML


def write_reference_inputs(
    folder: Path, built: images.BuiltImages | None, https_port: int, http_port: int
) -> tuple[reference.ReferenceInputs, Path]:
    """The env file, secrets and nginx config of one stack (the images: the file's default
    names, `stackproof/<name>:latest`, unless `built` names them)."""
    ca = RunCA(folder)
    certificate = ca.issue("nginx", ["localhost", "127.0.0.1"], valid_days=30)
    secrets = reference.generate_secrets(SecretRegistry())
    secrets["tls_cert"] = certificate.cert_path.read_text("utf-8")
    secrets["tls_key"] = certificate.key_path.read_text("utf-8")
    public_key = Ed25519PrivateKey.generate().public_key()
    authority = f"localhost:{https_port}"
    variables = {
        **(built.env() if built is not None else {}),
        "DISCORD_PUBLIC_KEY": public_key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex(),
        "HTTPS_PORT": str(https_port),
        "HTTP_PORT": str(http_port),
        "PUBLIC_HTTPS_AUTHORITY": authority,
        "POSTGRES_INITDB_ARGS": "--no-sync",
    }
    conf = reference.render_nginx_conf(NGINX_TEMPLATE, "localhost", authority)
    return reference.write_inputs(folder / "inputs", secrets, variables, conf), ca.ca_path


def compose_config(compose: list[str], env_file: Path, *args: str) -> str:
    """`compose config` of the reference file with an env file: what Compose makes of it."""
    done = subprocess.run(
        [*compose, "--file", str(COMPOSE_FILE), "--env-file", str(env_file), "config", *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"compose config failed: {done.stderr}"
    return done.stdout


@contextmanager
def reference_stack(
    engine_: Engine, built: images.BuiltImages, folder: Path
) -> Iterator[RunningStack]:
    """The reference compose file up, labelled as a run, watched; down and gone after."""
    compose = compose_or_skip()
    run_id = new_run_id()
    project = f"sptest-{run_id.lower()}"
    https_port, http_port = free_ports(2)
    inputs, ca_path = write_reference_inputs(folder, built, https_port, http_port)
    override = folder / "labels.override.yml"
    services = compose_config(compose, inputs.env_file, "--services").split()
    override.write_text(label_override(run_id, services), "utf-8")
    argv = [
        *compose,
        *("--project-name", project, "--file", str(COMPOSE_FILE), "--file", str(override)),
        *("--env-file", str(inputs.env_file)),
    ]
    stack = RunningStack(
        run_id, project, argv, inputs, ca_path, https_port, http_port, engine_.client
    )
    with Watcher(run_id, folder / "watcher.log"):
        try:
            up = stack.compose("up", "--detach", "--wait", "--wait-timeout", str(UP_TIMEOUT_S))
            if up.returncode != 0:
                logs = stack.compose("logs", "--no-color", "--tail", "20").stdout
                pytest.fail(f"compose up failed:\n{up.stderr[-3000:]}\nlogs:\n{logs[-6000:]}")
            yield stack
        finally:
            stack.compose("down", "--volumes", "--timeout", "5")
