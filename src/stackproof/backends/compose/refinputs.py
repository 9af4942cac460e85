"""What the reference compose file (compose/docker-compose.yml) takes, for one stack.

`compose.inputs = "reference"`: secrets (a file each), the nginx config rendered from the
stack's template, and the variables, written by `stackproof.containers.reference`; here
with the run's certificate, its Discord key, its host ports and, where links go through the
fault proxy, each link's proxy address in the file that carries it (the database and Redis
URLs are secret files of each service; AniList and Sentry are environment; the front's
upstreams are the nginx config's `link.*`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stackproof.backends.values import Endpoint
from stackproof.containers import reference
from stackproof.profile import Profile
from stackproof.run import RunContext
from stackproof.tls_ca import RunCA

SENTRY_PUBLIC_KEY = "5f0c0ffee0ddba11ab1e5ca1ab1ec0de"  # the reference profile's
APPS = ("auth", "bot")
FRONT_PORTS = {"HTTPS_PORT": 8443, "HTTP_PORT": 8080}
# The Python services' image: `with-secrets` puts the secret files in the environment.
SECRETS_PREFIX = ("with-secrets",)


@dataclass
class ReferenceStackInputs:
    env_file: Path
    secrets: dict[str, str]
    environment: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def superuser_password(self) -> str:
        return self.secrets["postgres_password"]

    @property
    def app_password(self) -> str:
        return self.secrets["postgres_app_password"]

    @property
    def redis_password(self) -> str:
        return self.secrets["redis_password"]


def write_reference_inputs(
    folder: Path,
    *,
    profile: Profile,
    run: RunContext,
    ca: RunCA,
    discord_public_key: str,
    images: Mapping[str, str],
    address: Callable[[str, str, str], str],  # (source, target, direct address) -> address
    browser_anilist_url: str,  # where the harness, as the browser, reaches the AniList fake
) -> ReferenceStackInputs:
    host = profile.stack.public_host
    database = profile.services["postgres"].database
    db_user, db_name = (database.user, database.name) if database else ("stack", "stack")
    secrets = reference.generate_secrets(run.secrets, db_user, db_name)
    certificate = ca.issue(
        "server",
        profile.stack.certificate_names or [host, "127.0.0.1"],
        profile.stack.certificate_days,
    )
    secrets["tls_cert"] = certificate.cert_path.read_text("utf-8")
    secrets["tls_key"] = certificate.key_path.read_text("utf-8")
    environment: dict[str, dict[str, str]] = {}
    for app in APPS:
        secrets[f"{app}_database_url"] = reference.database_url(
            db_user,
            secrets["postgres_app_password"],
            db_name,
            address(app, "postgres", "postgres:5432"),
        )
        secrets[f"{app}_redis_url"] = reference.redis_url(
            secrets["redis_password"], address(app, "redis", "redis:6379")
        )
        sentry = address(app, "sentry", "sentry:8000")
        environment[app] = {
            "ANILIST_URL": f"http://{address(app, 'anilist', 'anilist:8000')}",
            "SENTRY_DSN": f"http://{SENTRY_PUBLIC_KEY}@{sentry}/1",
        }
    if (front_link := address("nginx", "auth", "auth:8000")) != "auth:8000":
        # The front reaches the service through the fault proxy: that is its peer.
        environment["auth"]["TRUSTED_PROXIES"] = f"nginx,{front_link.rpartition(':')[0]}"
    # The file's own front ports, pinned: the stack publishes them as they are, on an
    # address of its own (`addresses.py`), so the front's public authority is known now.
    authority = f"{host}:{FRONT_PORTS['HTTPS_PORT']}"
    links = {app: address("nginx", app, f"{app}:8000") for app in APPS}
    template = _nginx_template(profile)
    conf = reference.render_nginx_conf(template, host, authority, links)
    variables = {
        **images,
        "DISCORD_PUBLIC_KEY": discord_public_key,
        **{name: str(port) for name, port in FRONT_PORTS.items()},
        "PUBLIC_HTTPS_AUTHORITY": authority,
        "ANILIST_AUTHORIZE_URL": browser_anilist_url,
        "DB_NAME": db_name,
        "DB_USER": db_user,
        "SENTRY_PUBLIC_KEY": SENTRY_PUBLIC_KEY,
        "POSTGRES_INITDB_ARGS": "--no-sync",  # a throwaway database: no fsyncs
    }
    inputs = reference.write_inputs(folder, secrets, variables, conf)
    return ReferenceStackInputs(inputs.env_file, secrets, environment)


def _nginx_template(profile: Profile) -> Path:
    root = profile.stack.root
    assert root is not None  # the backend's check demands it for reference inputs
    configured = profile.services["nginx"].process.config or "nginx/nginx.conf.template"
    return root / configured


def admin_url(inputs: ReferenceStackInputs, endpoint: Endpoint, database: str) -> str:
    return reference.database_url("postgres", inputs.superuser_password, database, endpoint.address)
