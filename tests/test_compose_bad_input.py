"""Bad input on the compose backend, each said clearly, with nothing of the run left behind:
no engine; a compose file that does not parse, or lacks a service the profile names; an
image that fails to build (named, with its build's last lines); a base image that does not
exist; a published port another program holds. A run that meets one still writes its report,
with `error` verdicts.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from compose_support import compose_stack, engine_or_skip, reference_profile
from support import run_suites

from stackproof.backends import select_backend
from stackproof.backends.compose import ComposeBackend
from stackproof.containers import engine
from stackproof.containers.images import ImageBuildError
from stackproof.errors import BackendUnavailableError, ProfileError
from stackproof.ports import PortInUseError
from stackproof.profile import load_profile

pytestmark = pytest.mark.containers

PROFILE = """
name = "broken"
backend = "compose"

[stack]
public_host = "localhost"

[public]
service = "web"

[services.web]
kind = "nginx"

[services.worker]
kind = "app"
ports = ["http"]

[faults]
proxy_links = false

[compose]
file = "compose.yml"

[compose.services.web]
ports = {{ https = 8443, http = 8080 }}

[compose.services.worker]
{worker}
ports = {{ http = 80 }}
"""


def write_stack(
    folder: Path, compose: str, worker: str = "", files: dict[str, str] | None = None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "compose.yml").write_text(compose, "utf-8")
    for name, text in (files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, "utf-8")
    path = folder / "profile.toml"
    path.write_text(PROFILE.format(worker=worker), "utf-8")
    return path


def no_objects_of(run_dir: Path) -> list[str]:
    run_id = run_dir.name
    with closing(engine.connect()) as client:
        return [o.describe() for o in engine.run_objects(client, run_id)]


@pytest.fixture
def engine_here() -> None:
    engine_or_skip()


def test_no_engine_says_so_and_auto_falls_back(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    why = ComposeBackend.unavailable()
    assert why is not None
    assert "no Docker engine answers" in why
    assert "--backend=process" in why  # what to do
    with pytest.raises(BackendUnavailableError, match="backend 'compose' cannot run here"):
        select_backend("compose")
    backend, reason = select_backend("auto")
    assert backend.name == "process"
    assert "no Docker engine answers" in reason


def test_a_compose_file_that_does_not_parse(engine_here: None, tmp_path: Path) -> None:
    profile = load_profile(write_stack(tmp_path, "services:\n  web: [this is: not a service\n"))
    with (
        pytest.raises(ProfileError, match=r"compose.file: Compose cannot read .*compose.yml"),
        compose_stack(profile, tmp_path / "reports"),
    ):
        pass


def test_a_service_the_profile_names_is_missing(engine_here: None, tmp_path: Path) -> None:
    compose = "services:\n  web:\n    image: stackproof/nginx:latest\n"
    profile = load_profile(write_stack(tmp_path, compose))
    with (
        pytest.raises(ProfileError, match=r"has no service for worker .*map them"),
        compose_stack(profile, tmp_path / "reports"),
    ):
        pass


def test_an_image_that_fails_to_build_is_named_with_its_log(
    engine_here: None, tmp_path: Path
) -> None:
    compose = (
        "services:\n  web:\n    image: stackproof/nginx:latest\n"
        "  worker:\n    build: ./worker\n    image: sptest-broken-worker:1\n"
    )
    dockerfile = "FROM stackproof/base:bookworm\nRUN echo the-step-that-breaks && exit 3\n"
    profile = load_profile(write_stack(tmp_path, compose, files={"worker/Dockerfile": dockerfile}))
    with pytest.raises(ImageBuildError) as raised, compose_stack(profile, tmp_path / "reports"):
        pass
    assert "compose build" in str(raised.value)
    assert "the-step-that-breaks" in str(raised.value)  # the build's own last lines


def test_a_base_image_that_does_not_exist(engine_here: None, tmp_path: Path) -> None:
    profile = reference_profile(tmp_path)
    assert profile.compose is not None
    broken = profile.model_copy(
        update={
            "compose": profile.compose.model_copy(update={"base_image": "sptest/no-such-base:none"})
        }
    )
    with (
        pytest.raises(ImageBuildError, match=r"base image sptest/no-such-base:none does not exist"),
        compose_stack(broken, tmp_path / "reports"),
    ):
        pass


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another program listens on, on every address (so on the stack's too)."""
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_published_port_already_taken(engine_here: None, tmp_path: Path, taken_port: int) -> None:
    compose = (
        "services:\n  web:\n    image: stackproof/nginx:latest\n    pull_policy: never\n"
        f"    ports: ['127.0.0.1:{taken_port}:8443']\n"
        "  worker:\n    image: stackproof/nginx:latest\n    pull_policy: never\n"
    )
    profile = load_profile(write_stack(tmp_path, compose))
    with pytest.raises(PortInUseError) as raised, compose_stack(profile, tmp_path / "reports"):
        pass
    assert str(taken_port) in str(raised.value)
    assert "in use" in str(raised.value)


def test_a_run_that_meets_bad_input_reports_errors_and_leaves_nothing(
    engine_here: None, tmp_path: Path
) -> None:
    compose = "services:\n  web:\n    image: stackproof/nginx:latest\n"
    profile = write_stack(tmp_path / "stack", compose)
    # A run ID of its own: what other runs of the default ID left is theirs to account for.
    run = run_suites(
        tmp_path / "reports", f"--profile={profile}", "--backend=compose", "-k", "tls12_and_tls13",
        run_id=f"bad-input-{secrets.token_hex(3)}",
    )  # fmt: skip
    assert run.exit_code != 0
    verdicts = run.covered()
    assert verdicts == {"R-TLS-1": "error"}, run.output[-3000:]
    assert "has no service for worker" in run.output
    assert no_objects_of(run.run_dir) == []
