"""The stack's operations scripts as they live on a staging host (`[ops]` + `remote.ops`)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from stackproof.backends.base import OpsAccess
from stackproof.backends.remote.files import SshFiles
from stackproof.backends.remote.ssh import SshHost
from stackproof.errors import ProfileError
from stackproof.profile.model import OpsSettings
from stackproof.profile.remote import RemoteOps
from stackproof.profile.template import TemplateError, render

OPERATIONS = ("deploy", "backup", "restore", "retention")


def _render(text: str, python: str, key: str) -> str:
    try:
        return render(text, {"python": python})
    except TemplateError as error:
        raise ProfileError(
            f"ops.{key}: {error} (on a remote host only {{{{ python }}}} is known: write the "
            "host's paths in remote.ops)"
        ) from None


def remote_ops(settings: OpsSettings, host: RemoteOps, database: str | None) -> OpsAccess:
    """`[ops]`'s scripts with the host's paths: each runs from `host.cwd` over SSH."""
    scripts: dict[str, tuple[str, ...]] = {}
    for operation in OPERATIONS:
        argv = getattr(settings, operation)
        if argv:
            scripts[operation] = tuple(
                _render(part, host.python, f"{operation}[{i}]") for i, part in enumerate(argv)
            )
    env = dict(host.env)
    if host.config is not None:
        env["OPS_CONFIG"] = host.config
    return OpsAccess(
        scripts=scripts,
        env=env,
        cwd=PurePosixPath(host.cwd),
        folder=PurePosixPath(host.folder),
        config=PurePosixPath(host.config) if host.config else None,
        backup_dir=PurePosixPath(host.backup_dir),
        releases_dir=PurePosixPath(host.releases_dir),
        control=PurePosixPath(host.control),
        database=database,
        deploy_services=tuple(settings.deploy_services),
        release_entrypoint=settings.release_entrypoint,
        python=host.python,
    )


def through_forward(dsn: str, host: SshHost, closing: ExitStack, ca_copy: Path) -> str:
    """`dsn` (as the host reaches the database) rewritten to reach it from here: through a
    forward of the SSH connection, the server's name kept for TLS verification (libpq's
    `hostaddr`), the CA file (a path on the host) copied to `ca_copy`."""
    parts = urlsplit(dsn)
    server, port = parts.hostname or "127.0.0.1", parts.port or 5432
    endpoint = closing.enter_context(host.forward(server, port))
    query = dict(parse_qsl(parts.query))
    if "sslrootcert" in query:
        ca_copy.write_bytes(SshFiles(host).read_bytes(PurePosixPath(query["sslrootcert"])))
        query["sslrootcert"] = str(ca_copy)
    query["hostaddr"] = endpoint.host
    credentials = parts.netloc.rpartition("@")[0]
    netloc = (
        f"{credentials}@{server}:{endpoint.port}" if credentials else f"{server}:{endpoint.port}"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))
