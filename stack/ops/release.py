#!/usr/bin/env python3
"""Build a release of a service from the source tree, the artifact `deploy.py` installs.

    release.py build SERVICE --version V --out DIR [--tar] [--config FILE]
    release.py bootstrap SERVICE --version V [--config FILE]

`build` writes DIR/<service>-<V>/ (or DIR/<service>-<V>.tar.gz with --tar): the paths of
`[release.<service>] include` copied from `source`, a `release.json` manifest, and the
entrypoint (`[deploy.<service>] entrypoint`) that runs `app` with uvicorn from the release
folder. `bootstrap` builds straight into the releases folder and points `current` at it when
a host has no release yet (a first install; the service is started by whoever runs it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import shutil
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

from opskit.config import Config, ConfigError
from opskit.releases import MANIFEST, VERSION, InvalidRelease, Release, ReleaseStore

ENTRYPOINT = """#!/bin/sh
# Release {version} of {service}: runs {app} from this folder; the service manager passes
# the listening options.
cd "$(dirname "$0")/.." || exit 1
exec {python} -m uvicorn {app} "$@"
"""


def build_into(folder: Path, service: str, version: str, config: Config) -> Path:
    if not VERSION.match(version):
        raise InvalidRelease(f"version {version!r}: use letters, digits, '.', '_' or '-'")
    key = f"release.{service}"
    source = config.path(f"{key}.source")
    entrypoint = folder / config.text(f"deploy.{service}.entrypoint")
    folder.mkdir(parents=True)
    for name in config.texts(f"{key}.include"):
        origin = source / name
        if not origin.exists():
            raise InvalidRelease(f"{origin}: named by {key}.include, does not exist")
        shutil.copytree(origin, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    entrypoint.parent.mkdir(parents=True, exist_ok=True)
    entrypoint.write_text(
        ENTRYPOINT.format(
            version=version,
            service=service,
            app=shlex.quote(config.text(f"{key}.app")),
            python=shlex.quote(config.text(f"{key}.python", sys.executable)),
        ),
        "utf-8",
    )
    entrypoint.chmod(0o755)
    manifest = {
        "service": service,
        "version": version,
        "built": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    return folder


def build(service: str, version: str, out: Path, tar: bool, config: Config) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    folder = build_into(out / f"{service}-{version}", service, version, config)
    if not tar:
        return folder
    archive = out / f"{service}-{version}.tar.gz"
    with tarfile.open(archive, "w:gz") as packed:
        packed.add(folder, arcname=folder.name)
    shutil.rmtree(folder)
    return archive


def bootstrap(service: str, version: str, config: Config) -> Path:
    store = ReleaseStore(
        config.path(f"deploy.{service}.releases"),
        service,
        config.text(f"deploy.{service}.entrypoint"),
    )
    if (running := store.pointed("current")) is not None:
        print(f"release: {service} already has a release ({running.version}); nothing to do")
        return running.path
    target = store.releases / version
    if not target.exists():
        build_into(target, service, version, config)
    store.point("current", Release(target, version))
    print(f"release: {service} {version} installed as the current release")
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["build", "bootstrap"])
    parser.add_argument("service")
    parser.add_argument("--version", required=True)
    parser.add_argument("--out", type=Path, help="where `build` writes the artifact")
    parser.add_argument("--tar", action="store_true", help="build a .tar.gz")
    parser.add_argument("--config", help="ops config (default: $OPS_CONFIG)")
    args = parser.parse_args(argv)
    try:
        config = Config.load(args.config)
        if args.action == "bootstrap":
            bootstrap(args.service, args.version, config)
            return 0
        if args.out is None:
            parser.error("build needs --out DIR")
        print(build(args.service, args.version, args.out, args.tar, config))
    except (ConfigError, InvalidRelease, OSError) as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
