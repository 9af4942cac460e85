"""Deploy the app host's containers on its own Docker, as an operator's deploy step would
(`docker run` with the options seed 001's compose file gives: loopback only, json-file
logs 10 MB x 3, restart unless-stopped, a health check). Standard library only.

The image holds nothing but the root folder's links and mount points: the host's /usr and
the stack's /opt/refstack are mounted read-only into it, so no registry (and no build) is
needed. The settings' `variant` can change the options (a host mutant).
"""

from __future__ import annotations

import io
import json
import pwd
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

IMAGE = "refstack/runtime:local"
HEALTH = (
    "import urllib.request, sys; "
    "urllib.request.urlopen('http://127.0.0.1:8102/_stackproof/received', timeout=2); sys.exit(0)"
)


def runtime_image() -> None:
    """An image of links and empty folders, imported from a tar made here."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in ("usr", "etc", "tmp", "proc", "sys", "dev", "opt", "run"):
            folder = tarfile.TarInfo(name)
            folder.type, folder.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(folder)
        for name in ("bin", "sbin", "lib", "lib64"):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, f"usr/{name}"
            tar.addfile(link)
    subprocess.run(["docker", "import", "-", IMAGE], input=buffer.getvalue(), check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def sentry_fake(variant: dict[str, Any]) -> None:
    user = pwd.getpwnam(variant.get("container_user", "refstack"))
    logs = variant.get("container_log_options", ["max-size=10m", "max-file=3"])
    restart = variant.get("container_restart", "unless-stopped")
    argv = [
        "docker", "run", "--detach", "--name", "refstack-sentry",
        "--user", f"{user.pw_uid}:{user.pw_gid}",
        # The host's network, on loopback: the fake refuses any other address, so it is not
        # published through a bridge (the seed's app is, on 127.0.0.1 only).
        "--network", "host",
        "--volume", "/usr:/usr:ro", "--volume", "/opt/refstack:/opt/refstack:ro",
        "--env", "PYTHONPATH=/opt/refstack/lib",
        "--log-driver", "json-file", *(f"--log-opt={option}" for option in logs),
        "--restart", restart,
        "--health-cmd", f"/opt/refstack/venv/bin/python -c \"{HEALTH}\"",
        "--health-interval", "30s", "--health-timeout", "5s", "--health-retries", "3",
        IMAGE,
        "/opt/refstack/venv/bin/python", "-m", "stackproof.fakes.sentry",
        "--host", "127.0.0.1", "--port", "8102", "--public-key", "5f0c0ffee0ddba11ab1e5ca1ab1ec0de",
    ]  # fmt: skip
    if variant.get("container_healthcheck", True) is False:
        start = argv.index("--health-cmd")
        del argv[start : start + 8]
        argv.insert(start, "--no-healthcheck")
    # A redeploy replaces the container, as `docker compose up -d` would.
    subprocess.run(["docker", "rm", "--force", "refstack-sentry"], capture_output=True, check=False)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    settings = json.loads((Path(argv[0]) / "settings.json").read_text("utf-8"))
    runtime_image()
    sentry_fake(settings.get("variant", {}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
