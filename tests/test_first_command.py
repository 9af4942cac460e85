"""The README's first command works as written on a stock Debian 12, with Debian's own Python.

A container of the offline base image (`stackproof images base`) gets only what the README
asks for (`python3`, `python3-venv`, `pipx` from Debian), a copy of this checkout, and the
host's CA bundle (this machine reaches PyPI through an intercepting proxy; a user's machine
needs nothing of the kind). Then the README's command runs there as written, with one
requirement selected to keep it short.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from support import ROOT

pytestmark = pytest.mark.stack

BASE_IMAGE = "stackproof/base:bookworm"
IMAGE = "stackproof-test/debian-python:bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DOCKERFILE = f"""\
FROM {BASE_IMAGE}
LABEL org.stackproof.image=test-debian-python
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
      python3 python3-venv pipx ca-certificates >/dev/null \\
 && rm -rf /var/lib/apt/lists/*
"""
RUN_TIMEOUT_S = 900


def readme_command(session: str) -> str:
    """The README's command for `nox -s <session>`, as the user copies it."""
    text = (ROOT / "README.md").read_text("utf-8")
    found = re.search(rf"^(pipx run [^\n#]*nox -s {session})\s", text, re.MULTILINE)
    assert found, f"the README has no `pipx run ... nox -s {session}` command"
    return found.group(1)


def _docker(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def _why_not() -> str | None:
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    if _docker("version", "--format", "{{.Server.Version}}", timeout_s=10).returncode != 0:
        return "no Docker engine answers (start dockerd)"
    if _docker("image", "inspect", BASE_IMAGE, timeout_s=10).returncode != 0:
        return f"no base image {BASE_IMAGE} (make it: stackproof images base)"
    if not CA_BUNDLE.is_file():
        return f"no CA bundle at {CA_BUNDLE} to reach PyPI from the container"
    return None


def test_the_readme_names_the_same_runner_for_both_commands() -> None:
    conformance, tests = readme_command("conformance"), readme_command("tests")
    assert conformance.removesuffix("conformance") == tests.removesuffix("tests")


@pytest.mark.skipif((reason := _why_not()) is not None, reason=str(reason))
def test_the_first_command_runs_on_stock_debian(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE, "utf-8")
    built = _docker("build", "-q", "-t", IMAGE, str(tmp_path), timeout_s=600)
    assert built.returncode == 0, built.stderr[-3000:]
    # A copy of the checkout without this machine's environments and reports.
    copy = (
        "tar -C /src --exclude=./.nox --exclude=./.venv --exclude=./reports -cf - . "
        "| tar -C /work -xf -"
    )
    command = f"{readme_command('conformance')} -- --requirement=R-TLS-5"
    done = _docker(
        "run", "--rm",
        "--name", f"stackproof-first-command-{uuid.uuid4().hex[:8]}",
        "--label", "org.stackproof.run=test-first-command",
        "-v", f"{ROOT}:/src:ro",
        "-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro",
        "-e", f"SSL_CERT_FILE={CA_BUNDLE}", "-e", f"PIP_CERT={CA_BUNDLE}",
        IMAGE,
        "bash", "-c", f"mkdir /work && {copy} && cd /work && {command}",
        timeout_s=RUN_TIMEOUT_S,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"`{shlex.quote(command)}` failed:\n{output[-4000:]}"
    assert re.search(r"^R-TLS-5\s+PASS", output, re.MULTILINE), output[-4000:]
    assert "externally-managed-environment" not in output
