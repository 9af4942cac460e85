"""What the reference compose file (compose/docker-compose.yml) takes, written for one run.

Three things, none of them in the compose file itself:
- variables, in an env file (`docker compose --env-file FILE`): where the secrets and the
  nginx config are, the Discord public key, the images, the host ports;
- secrets, one file each in a private folder (SECRETS_DIR), seen by each service at
  /run/secrets/<name> and put in its environment by the images' `with-secrets`;
- the nginx config, rendered from the stack's own template with the containers' facts
  (ports 8080/8443, the TLS files as secrets, the upstreams by service name).

`write_inputs` writes all three; `generate_secrets` makes fresh values, registered in the
run's SecretRegistry so the reports never show them.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote

from stackproof.profile.template import render
from stackproof.run import SecretRegistry

# What listens where inside the containers (the compose file publishes these).
CONTAINER_PORTS: Final = {
    "postgres": 5432,
    "redis": 6379,
    "anilist": 8000,
    "sentry": 8000,
    "auth": 8000,
    "bot": 8000,
    "nginx.https": 8443,
    "nginx.http": 8080,
}
# The compose file's variable for each published port (unset: any free host port).
PORT_VARIABLES: Final = {
    "postgres": "POSTGRES_PORT",
    "redis": "REDIS_PORT",
    "anilist": "ANILIST_PORT",
    "sentry": "SENTRY_PORT",
    "auth": "AUTH_PORT",
    "bot": "BOT_PORT",
    "nginx.https": "HTTPS_PORT",
    "nginx.http": "HTTP_PORT",
}
# The secrets the compose file names (a file each in SECRETS_DIR).
SECRET_NAMES: Final = (
    "postgres_password",
    "postgres_app_password",
    "redis_password",
    "auth_database_url",
    "auth_redis_url",
    "bot_database_url",
    "migrate_database_url",
    "bot_redis_url",
    "userid_hash_salt",
    "auth_api_key",
    "oauth_context_key",
    "token_encryption_key",
    "anilist_client_secret",
    "anilist_token_canary",
    "canary_token",
    "discord_bot_token",
    "tls_cert",
    "tls_key",
)
GENERATED: Final = (  # the profile's own secrets, by the names the services read
    "userid_hash_salt",
    "auth_api_key",
    "oauth_context_key",
    "token_encryption_key",
    "anilist_client_secret",
    "anilist_token_canary",
    "canary_token",
    "discord_bot_token",
)
NGINX_STATE_DIR: Final = "/var/lib/nginx"
SECRETS_MOUNT: Final = "/run/secrets"


def nginx_context(
    public_host: str, https_authority: str, links: Mapping[str, str] | None = None
) -> dict[str, object]:
    """The template's placeholders as the nginx container sees them."""
    upstreams = {"auth": "auth:8000", "bot": "bot:8000", **(links or {})}
    return {
        "log": {"access": "/dev/stdout"},
        "dir": {"state": NGINX_STATE_DIR},
        "link": {name: {"address": address} for name, address in upstreams.items()},
        "listen": {
            "http": str(CONTAINER_PORTS["nginx.http"]),
            "https": str(CONTAINER_PORTS["nginx.https"]),
        },
        "public": {"host": public_host, "https_authority": https_authority},
        "tls": {"cert": f"{SECRETS_MOUNT}/tls_cert", "key": f"{SECRETS_MOUNT}/tls_key"},
    }


def render_nginx_conf(
    template: Path, public_host: str, https_authority: str, links: Mapping[str, str] | None = None
) -> str:
    """The stack's nginx template (one source of truth), rendered for the container."""
    return render(template.read_text("utf-8"), nginx_context(public_host, https_authority, links))


def database_url(user: str, password: str, database: str, address: str = "postgres:5432") -> str:
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{address}/{database}"


def redis_url(password: str, address: str = "redis:6379") -> str:
    return f"redis://:{quote(password, safe='')}@{address}/0"


def generate_secrets(
    registry: SecretRegistry, db_user: str = "stack", db_name: str = "stack"
) -> dict[str, str]:
    """Fresh values of every secret but the TLS files, each registered as a canary."""
    app_password = registry.generate("postgres.password")
    redis_password = registry.generate("redis.password")
    database = database_url(db_user, app_password, db_name)
    cache = redis_url(redis_password)
    values = {
        "postgres_password": registry.generate("postgres.superuser_password"),
        "postgres_app_password": app_password,
        "redis_password": redis_password,
        "auth_database_url": database,
        "bot_database_url": database,
        "migrate_database_url": database,
        "auth_redis_url": cache,
        "bot_redis_url": cache,
    }
    values.update({name: registry.generate(name) for name in GENERATED})
    return values


@dataclass(frozen=True, slots=True)
class ReferenceInputs:
    env_file: Path
    secrets_dir: Path
    nginx_conf: Path


def _private_file(path: Path, content: str) -> None:
    path.unlink(missing_ok=True)
    path.write_text(content, "utf-8")
    # Readable by the containers' own users, through the bind mount; the folder around it
    # (0700) keeps every other user of the host out.
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def write_inputs(
    folder: Path,
    secrets: Mapping[str, str],
    variables: Mapping[str, str],
    nginx_conf: str,
) -> ReferenceInputs:
    """The env file, the secrets folder and the nginx config, in `folder` (made 0700).

    `secrets` must hold every name of SECRET_NAMES (tls_cert and tls_key as PEM text);
    `variables` holds DISCORD_PUBLIC_KEY and whatever else to set (images, ports, ...).
    """
    missing = sorted(set(SECRET_NAMES) - set(secrets))
    if missing:
        raise ValueError(f"the reference compose file needs these secrets too: {missing}")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(stat.S_IRWXU)
    secrets_dir = folder / "secrets"
    secrets_dir.mkdir(exist_ok=True)
    secrets_dir.chmod(stat.S_IRWXU)
    for name in SECRET_NAMES:
        _private_file(secrets_dir / name, secrets[name])
    conf = folder / "nginx.conf"
    _private_file(conf, nginx_conf)
    env = {**variables, "SECRETS_DIR": str(secrets_dir), "NGINX_CONF": str(conf)}
    for name, value in env.items():
        if "\n" in value or "'" in value:
            raise ValueError(f"{name}: a compose variable holds no newline or quote")
    env_file = folder / "compose.env"
    env_file.write_text("".join(f"{name}='{value}'\n" for name, value in env.items()), "utf-8")
    env_file.chmod(stat.S_IRUSR | stat.S_IWUSR)
    return ReferenceInputs(env_file, secrets_dir, conf)
