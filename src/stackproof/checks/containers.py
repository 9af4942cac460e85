"""R-HOST-5 for one container, from its `docker inspect` JSON: logs rotate, the restart policy,
a declared health check. Shared by every backend that has containers (a staging host's Docker
over SSH, the compose backend): hand it the inspect document, get the problems under stable
keys, fail once.

```python
problems = container_problems(json.loads(docker_inspect_output)[0], ContainerPolicy())
```

Log rotation is judged for the drivers that keep logs on the host and rotate them by their
options (`json-file`, `local`): `max-size` at most the policy's (Docker reads `10m` as
10 MiB) and `max-file` between 1 and the policy's. Any other driver (`none`, `journald`,
`syslog`, ...) is a finding: its rotation is not Docker's, so nothing here proves it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROTATING_DRIVERS = {"json-file": (None, None), "local": ("20m", "5")}  # their defaults
_SIZE = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True, slots=True)
class ContainerPolicy:
    log_max_size: str = "10m"
    log_max_files: int = 3
    restart_policies: tuple[str, ...] = ("unless-stopped",)
    require_healthcheck: bool = True


def docker_size(text: str) -> int:
    """Bytes in Docker's size notation, as its log drivers read it (`10m` = 10 MiB)."""
    found = _SIZE.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a size")
    return int(float(found["number"]) * _UNITS[found["unit"].lower()])


def container_name(inspect: Mapping[str, Any]) -> str:
    name = str(inspect.get("Name") or inspect.get("Id", "?")[:12])
    return name.lstrip("/")


def _logging(inspect: Mapping[str, Any], policy: ContainerPolicy) -> str | None:
    config = inspect.get("HostConfig", {}).get("LogConfig") or {}
    driver = config.get("Type") or "json-file"
    options = config.get("Config") or {}
    if driver not in ROTATING_DRIVERS:
        return f"log driver {driver!r}: its logs are not rotated by Docker's options"
    default_size, default_files = ROTATING_DRIVERS[driver]
    size = options.get("max-size", default_size)
    files = options.get("max-file", default_files)
    if size is None:
        return f"{driver} logs grow without bound (no max-size; want {policy.log_max_size})"
    try:
        too_big = docker_size(size) > docker_size(policy.log_max_size)
    except ValueError as error:
        return f"max-size: {error}"
    problems = []
    if too_big:
        problems.append(f"max-size {size} exceeds {policy.log_max_size}")
    count = int(files) if files is not None and str(files).isdigit() else 1
    if not 1 <= count <= policy.log_max_files:
        problems.append(f"max-file {files} is not within 1..{policy.log_max_files}")
    return "; ".join(problems) or None


def _restart(inspect: Mapping[str, Any], policy: ContainerPolicy) -> str | None:
    restart = (inspect.get("HostConfig", {}).get("RestartPolicy") or {}).get("Name") or "no"
    if restart in policy.restart_policies:
        return None
    return f"restart policy {restart!r}, expected {' or '.join(policy.restart_policies)}"


def _healthcheck(inspect: Mapping[str, Any]) -> str | None:
    check = inspect.get("Config", {}).get("Healthcheck") or {}
    test = check.get("Test") or []
    if not test or test[0] == "NONE":
        return "no health check declared (HEALTHCHECK in the image, or healthcheck: in compose)"
    return None


def container_problems(inspect: Mapping[str, Any], policy: ContainerPolicy) -> dict[str, str]:
    """What is wrong with one container, under the keys `<name>: logs|restart|healthcheck`."""
    name = container_name(inspect)
    found = {
        "logs": _logging(inspect, policy),
        "restart": _restart(inspect, policy),
        "healthcheck": _healthcheck(inspect) if policy.require_healthcheck else None,
    }
    return {f"{name}: {key}": problem for key, problem in found.items() if problem}
