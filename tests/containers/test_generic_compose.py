"""Services stackproof does not know, on compose: a TCP readiness waits for the container's
own health check, an HTTP one asks the published port, and their links run through the
fault proxy; what compose cannot prove ready is refused, naming the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stackproof.backends.compose import ComposeBackend
from stackproof.containers import images
from stackproof.errors import ProfileError
from stackproof.faults.injector import StackFaults
from stackproof.profile import load_profile
from stackproof.run import RunContext

pytestmark = pytest.mark.containers
HERE = Path(__file__).resolve().parent / "generic"
FETCH = [
    "python",
    "-c",
    "import urllib.request; urllib.request.urlopen('http://web:8000/', timeout=2)",
]


def _copy(tmp_path: Path, compose_edit: tuple[str, str] | None = None) -> Path:
    """The generic profile and its compose file in `tmp_path`, the file edited if asked."""
    for name in ("profile.toml", "docker-compose.yml"):
        shutil.copyfile(HERE / name, tmp_path / name)
    if compose_edit is not None:
        compose = tmp_path / "docker-compose.yml"
        text = compose.read_text("utf-8")
        assert compose_edit[0] in text
        compose.write_text(text.replace(*compose_edit), "utf-8")
    return tmp_path / "profile.toml"


def test_generic_services_come_up_and_their_link_is_faulted(
    tmp_path: Path, reference_images: images.BuiltImages
) -> None:
    profile = load_profile(_copy(tmp_path))
    ComposeBackend().check(profile)
    run = RunContext("generic-compose", tmp_path / "run")
    with ComposeBackend().up(profile, run, "main") as stack:
        client = stack.service("client")
        assert client.exec(FETCH).returncode == 0
        faults = StackFaults(stack)
        try:
            with faults.down("client-web"):
                assert client.exec(FETCH).returncode != 0, "the link went around the fault proxy"
            assert client.exec(FETCH).returncode == 0
        finally:
            faults.close()


def test_a_tcp_readiness_without_a_health_check_is_refused_naming_the_key(
    tmp_path: Path, reference_images: images.BuiltImages
) -> None:
    healthcheck = (
        '    healthcheck:\n      test: ["CMD", "python", "-c", "import socket; '
        "socket.create_connection(('127.0.0.1', 8000), 1)\"]\n      interval: 1s\n"
        "      start_period: 10s\n"
    )
    profile = load_profile(_copy(tmp_path, (healthcheck, "")))
    ComposeBackend().check(profile)  # the file's health checks are read as it comes up
    run = RunContext("generic-compose-refused", tmp_path / "run")
    with (
        pytest.raises(
            ProfileError, match=r"services\.web\.generic\.ready: .*a healthcheck for web"
        ),
        ComposeBackend().up(profile, run, "main"),
    ):
        pass


def test_a_readiness_command_is_refused_before_anything_starts(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    text = path.read_text("utf-8").replace(
        'ready = { tcp = "http" }', 'ready = { command = ["true"] }'
    )
    path.write_text(text, "utf-8")
    with pytest.raises(ProfileError, match=r"services\.web\.generic\.ready\.command: .*process"):
        ComposeBackend().check(load_profile(path))
