"""Configure a staging host from its seed, before anything on it starts (standard library only).

The harness writes the seed (`settings.json`, TLS files of the run's CA, the SSH host key and
the deploy user's authorized key, the rendered nginx config) and mounts it read-only. Roles:

- `app`: the host under test — sshd, nftables, fail2ban, nginx and the reference stack's
  units; settings decide what a host mutant changes (a port on all interfaces, a service as
  root, fail2ban's maxretry, the firewall's policy, a DSN without sslmode).
- `db`: the databases the app host reaches over the network, with TLS only.
  `--serve-databases` then runs PostgreSQL and Redis in the foreground.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PG_DATA = Path("/var/lib/staging-pg")
PG_EMPTY = Path("/var/lib/staging-pg.empty")
VENV_PYTHON = "/opt/refstack/venv/bin/python"
RELEASES = Path("/opt/refstack/releases")
OPS_SCRIPTS = Path("/opt/refstack/app/ops")
PG_WIPE = f"""#!/bin/sh
# The app host's database disk lost and provisioned again: the data replaced by the empty
# cluster of the host's setup. Only while the server is down.
set -eu
! systemctl is-active -q refstack-postgres.service || {{ echo "the server runs" >&2; exit 2; }}
rm -rf {PG_DATA}
cp -a {PG_EMPTY} {PG_DATA}
"""
SOCKETS = Path("/var/run/postgresql")  # made by Debian's postgresql-common, owned by postgres
TLS_DIR = Path("/etc/refstack/tls")
ENV_DIR = Path("/opt/refstack/env")
SENTRY_DSN = "http://5f0c0ffee0ddba11ab1e5ca1ab1ec0de@127.0.0.1:8102/1"


def write(path: Path, text: str, mode: int = 0o644, owner: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    path.chmod(mode)
    if owner is not None:
        shutil.chown(path, owner, owner)


def copy(source: Path, target: Path, mode: int, owner: str | None = None) -> None:
    write(target, source.read_text("utf-8"), mode, owner)


# --- the app host -----------------------------------------------------------------------


def ssh(seed: Path) -> None:
    key = Path("/etc/ssh/ssh_host_ed25519_key")
    copy(seed / "ssh" / "ssh_host_ed25519_key", key, 0o600)
    copy(seed / "ssh" / "ssh_host_ed25519_key.pub", key.with_suffix(".pub"), 0o644)
    home = Path("/home/deploy/.ssh")
    home.mkdir(mode=0o700, exist_ok=True)
    shutil.chown(home, "deploy", "deploy")
    copy(seed / "ssh" / "authorized_keys", home / "authorized_keys", 0o600, "deploy")


def tls(seed: Path) -> None:
    copy(seed / "tls" / "ca.pem", TLS_DIR / "ca.pem", 0o644)
    copy(seed / "tls" / "server.crt", Path("/etc/nginx/tls/front.crt"), 0o644)
    copy(seed / "tls" / "server.key", Path("/etc/nginx/tls/front.key"), 0o600)


def nginx(seed: Path) -> None:
    copy(seed / "nginx.conf", Path("/etc/nginx/nginx.conf"), 0o644)
    for folder in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "acme"):
        state = Path("/var/lib/nginx/refstack") / folder
        state.mkdir(parents=True, exist_ok=True)
        shutil.chown(state, "www-data", "www-data")


def firewall(variant: dict[str, Any]) -> None:
    policy = variant.get("firewall_policy", "drop")
    write(
        Path("/etc/nftables.conf"),
        # Only our own table is replaced: Docker's embedded DNS lives in the same ruleset.
        f"""#!/usr/sbin/nft -f
table inet filter
flush table inet filter
table inet filter {{
    chain input {{
        type filter hook input priority 0; policy {policy};
        iif "lo" accept
        ct state established,related accept
        ct state invalid drop
        meta l4proto {{ icmp, ipv6-icmp }} accept
        tcp dport {{ 22, 80, 443 }} accept
    }}
    chain forward {{
        type filter hook forward priority 0; policy drop;
    }}
    chain output {{
        type filter hook output priority 0; policy accept;
    }}
}}
""",
        0o755,
    )


def fail2ban(variant: dict[str, Any]) -> None:
    write(
        Path("/etc/fail2ban/jail.d/staging.local"),
        f"""[DEFAULT]
banaction = nftables-multiport
banaction_allports = nftables-allports

[sshd]
enabled = true
backend = systemd
maxretry = {variant.get("fail2ban_maxretry", 5)}
findtime = {variant.get("fail2ban_findtime", 600)}
bantime = {variant.get("fail2ban_bantime", 3600)}
""",
    )


def dsns(settings: dict[str, Any]) -> tuple[str, str]:
    secrets, variant, db = settings["secrets"], settings.get("variant", {}), settings["db_host"]
    ca = TLS_DIR / "ca.pem"
    if variant.get("local_database"):
        local = f"postgresql://stack:{secrets['postgres_password']}@127.0.0.1:5432/stack"
        return (
            local,
            f"rediss://:{secrets['redis_password']}@{db}:6379/0?ssl_ca_certs={ca}&ssl_cert_reqs=required",
        )
    sslmode = variant.get("dsn_sslmode", "verify-full")
    query = f"sslmode={sslmode}&sslrootcert={ca}" if sslmode else f"sslrootcert={ca}"
    postgres = f"postgresql://stack:{secrets['postgres_password']}@{db}:5432/stack?{query}"
    redis = (
        f"rediss://:{secrets['redis_password']}@{db}:6379/0"
        f"?ssl_ca_certs={ca}&ssl_cert_reqs=required"
    )
    return postgres, redis


def env_files(settings: dict[str, Any]) -> None:
    secrets, variant = settings["secrets"], settings.get("variant", {})
    postgres, redis = dsns(settings)
    bind = variant.get("bind_host", "127.0.0.1")
    common = {
        "DATABASE_URL": postgres,
        "REDIS_URL": redis,
        "USERID_HASH_SALT": secrets["userid_hash_salt"],
        "SENTRY_DSN": SENTRY_DSN,
        "ANILIST_URL": "http://127.0.0.1:8101",
        "BIND_HOST": bind,
    }
    files = {
        "auth": {
            **common,
            "AUTH_API_KEY": secrets["auth_api_key"],
            "OAUTH_CONTEXT_KEY": secrets["oauth_context_key"],
            "TOKEN_ENCRYPTION_KEY": secrets["token_encryption_key"],
            "ANILIST_CLIENT_ID": "refstack-auth",
            "ANILIST_CLIENT_SECRET": secrets["anilist_client_secret"],
            "OAUTH_REDIRECT_URI": f"https://{settings['public_host']}/auth/oauth/callback",
        },
        "bot": {
            **common,
            "DISCORD_PUBLIC_KEY": secrets["discord_public_key"],
            "CANARY_TOKEN": secrets["canary_token"],
            "DISCORD_BOT_TOKEN": secrets["discord_bot_token"],
        },
        "anilist": {
            "ANILIST_CLIENT_SECRET": secrets["anilist_client_secret"],
            "ANILIST_TOKEN_CANARY": secrets["anilist_token_canary"],
        },
    }
    ENV_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.chown(ENV_DIR, "deploy", "deploy")
    for name, values in files.items():
        text = "".join(f"{key}={value}\n" for key, value in values.items())
        write(ENV_DIR / f"{name}.env", text, 0o600, "deploy")


def unit_users(variant: dict[str, Any]) -> None:
    for unit, user in variant.get("unit_users", {}).items():
        write(
            Path(f"/etc/systemd/system/{unit}.d/user.conf"),
            f"[Service]\nUser={user}\nGroup={user}\n",
        )


SERVICE_CONTROL = """#!/bin/sh
# svc start|stop|restart|status SERVICE... [--wait] (stack/ops/README.md): systemd units of
# the stack, through the deploy user's scoped sudo.
action=$1; shift
set -- $(printf '%s\\n' "$@" | grep -v '^--wait$' | sed 's/^/refstack-/; s/$/.service/')
case "$action" in
  status) for unit; do
            state=$(systemctl is-active "$unit"); echo "$unit: $state"
            # Stopped by itself: failed, or crashed and waiting for systemd's restart.
            [ "$state" = active ] || {
              { systemctl is-failed -q "$unit" ||
                [ "$(systemctl show --property=SubState --value "$unit")" = auto-restart ]; } &&
                echo exited
              exit 3; }
          done ;;
  *) exec sudo -n systemctl "$action" "$@" ;;
esac
"""


def ops(settings: dict[str, Any]) -> None:
    """The stack's ops folder as an operator sets it up: config (0600), backups (0700), svc."""
    variant = settings.get("variant", {})
    folder = Path("/opt/refstack/ops")
    for path in (folder, folder / "backups", folder / "events"):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.chown(path, "deploy", "deploy")
    postgres, _ = dsns(settings)
    database = f"{urlsplit(postgres).hostname}:{urlsplit(postgres).port or 5432}"
    bin_dir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    write(
        folder / "ops.toml",
        f"""service_control = "{folder}/svc"

[database]
service = "postgres"
url = "{postgres}"
bin_dir = "{bin_dir}"

[backup]
dir = "{folder}/backups"
retention_days = 7

[restore]
jobs = "auto"
services = ["auth", "bot"]
ready_timeout_s = 60

[[restore.migrate]]
cwd = "/opt/refstack/app"
schema = "auth"
folder = "refstack/auth/migrations"
argv = ["{VENV_PYTHON}", "-m", "refstack.common.migrations", "auth", "refstack/auth/migrations"]

[[restore.migrate]]
cwd = "{RELEASES}/bot/current"
schema = "bot"
folder = "refstack/bot/migrations"
argv = ["{VENV_PYTHON}", "-m", "refstack.common.migrations", "bot", "refstack/bot/migrations"]

[restore.ready]
auth = "http://127.0.0.1:8001/readyz"
bot = "http://127.0.0.1:8002/readyz"

# The bot runs from a release (the unit starts {RELEASES}/bot/current/bin/start).
[deploy.bot]
releases = "{RELEASES}/bot"
entrypoint = "bin/start"
health_url = "http://127.0.0.1:8002/readyz"
interval_s = 5
deadline_s = 60
dependencies = ["postgres://{database}"]

[release.bot]
source = "/opt/refstack/app"
include = ["refstack"]
app = "refstack.bot.app:app"
python = "{VENV_PYTHON}"
""",
        0o600,
        "deploy",
    )
    control = SERVICE_CONTROL
    if variant.get("svc_never_starts_apps"):  # the host mutant: services left stopped
        control = control.replace(
            "  *) exec sudo",
            '  start) [ "$*" = refstack-postgres.service ] || exit 0\n'
            '         exec sudo -n systemctl start "$@" ;;\n  *) exec sudo',
        )
    write(folder / "svc", control, 0o755, "deploy")
    releases(folder / "ops.toml", variant)


def releases(config: Path, variant: dict[str, Any]) -> None:
    """The bot as releases: the operator's first install (`release.py bootstrap`), as the
    deploy user, before the unit starts it from `current`."""
    RELEASES.mkdir(mode=0o755, parents=True, exist_ok=True)
    shutil.chown(RELEASES, "deploy", "deploy")
    as_user("deploy", ["python3", str(OPS_SCRIPTS / "release.py"), "bootstrap", "bot",
                       "--version", "1", "--config", str(config)],
            stdout=subprocess.DEVNULL)  # fmt: skip
    if variant.get("deploy_never_rolls_back"):  # the host mutant: a rollback only said
        script = OPS_SCRIPTS / "deploy.py"
        text = script.read_text("utf-8")
        honest = 'if self.start_and_watch(running, "rollback to"):'
        assert honest in text, "deploy.py's rollback line changed: update the host mutant"
        script.write_text(text.replace(honest, "if True:  # host mutant: never rolls back"))


def app(seed: Path, settings: dict[str, Any]) -> None:
    variant = settings.get("variant", {})
    ssh(seed)
    tls(seed)
    nginx(seed)
    firewall(variant)
    fail2ban(variant)
    env_files(settings)
    ops(settings)
    unit_users(variant)
    if variant.get("local_database"):
        postgres_setup(seed, settings["secrets"], local=True)
        wants = Path("/etc/systemd/system/multi-user.target.wants")
        wants.mkdir(parents=True, exist_ok=True)
        (wants / "refstack-postgres.service").symlink_to(
            "/etc/systemd/system/refstack-postgres.service"
        )
        # The empty cluster the host's provisioning made: `refstack-pg-wipe` puts it back
        # in place of the data (a lost disk, provisioned again) for the restore drills.
        shutil.copytree(PG_DATA, PG_EMPTY, symlinks=True)
        subprocess.run(["chown", "-R", "postgres:postgres", str(PG_EMPTY)], check=True)
        PG_EMPTY.chmod(0o700)
        write(Path("/usr/local/sbin/refstack-pg-wipe"), PG_WIPE, 0o755)


# --- the database host ------------------------------------------------------------------


def pg_bin() -> Path:
    """The newest PostgreSQL of the image (Debian keeps each major in its own folder)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    return versions[-1]


def as_user(user: str, argv: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, user=user, check=True, text=True, **options)


def postgres_setup(seed: Path, secrets: dict[str, str], *, local: bool = False) -> None:
    """A cluster with the stack's role and database. On the database host: every address,
    TLS only. `local` (the app host's own database, for the backup drills): loopback only,
    and the `postgres` administrator with a password the harness knows."""
    binaries = pg_bin()
    for folder, mode in ((PG_DATA, 0o700), (SOCKETS, 0o2775)):  # /run is fresh on the app host
        folder.mkdir(mode=mode, parents=True, exist_ok=True)
        shutil.chown(folder, "postgres", "postgres")
    as_user("postgres", [str(binaries / "initdb"), "-D", str(PG_DATA), "--auth-local=peer",
                         "--auth-host=scram-sha-256", "--encoding=UTF8"],
            stdout=subprocess.DEVNULL)  # fmt: skip
    if local:
        settings = f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{SOCKETS}'\n"
        hba = "local all all peer\nhost all all 127.0.0.1/32 scram-sha-256\n"
    else:
        copy(seed / "tls" / "server.crt", PG_DATA / "server.crt", 0o644, "postgres")
        copy(seed / "tls" / "server.key", PG_DATA / "server.key", 0o600, "postgres")
        settings = f"listen_addresses = '*'\nssl = on\nunix_socket_directories = '{SOCKETS}'\n"
        # TLS only: no `host` line, so a connection without TLS finds no entry and is refused.
        hba = (
            "local all all peer\nhostssl all all 0.0.0.0/0 scram-sha-256\n"
            "hostssl all all ::/0 scram-sha-256\n"
        )
    with (PG_DATA / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(settings)
    write(PG_DATA / "pg_hba.conf", hba, 0o600, "postgres")
    ctl = [str(binaries / "pg_ctl"), "-D", str(PG_DATA), "-w"]
    as_user("postgres", [*ctl, "start", "-o", "-c listen_addresses=''"], stdout=subprocess.DEVNULL)
    password = secrets["postgres_password"].replace("'", "''")
    statements = [
        f"CREATE ROLE stack LOGIN PASSWORD '{password}'",
        "CREATE DATABASE stack OWNER stack",
    ]
    if local:
        admin = secrets["postgres_admin_password"].replace("'", "''")
        statements.append(f"ALTER ROLE postgres PASSWORD '{admin}'")
    for statement in statements:
        as_user("postgres", [str(binaries / "psql"), "-h", str(SOCKETS), "-qAtc", statement],
                stdout=subprocess.DEVNULL)  # fmt: skip
    as_user("postgres", [*ctl, "stop"], stdout=subprocess.DEVNULL)


def redis_setup(seed: Path, secrets: dict[str, str]) -> None:
    folder = Path("/etc/redis/tls")
    copy(seed / "tls" / "server.crt", folder / "server.crt", 0o644, "redis")
    copy(seed / "tls" / "server.key", folder / "server.key", 0o600, "redis")
    copy(seed / "tls" / "ca.pem", folder / "ca.pem", 0o644, "redis")
    write(
        Path("/etc/redis/staging.conf"),
        f"""bind 0.0.0.0
protected-mode no
port 0
tls-port 6379
tls-cert-file {folder}/server.crt
tls-key-file {folder}/server.key
tls-ca-cert-file {folder}/ca.pem
tls-auth-clients no
requirepass {secrets["redis_password"]}
daemonize no
dir /var/lib/redis
""",
        0o640,
        "redis",
    )


def db(seed: Path, settings: dict[str, Any]) -> None:
    postgres_setup(seed, settings["secrets"])
    redis_setup(seed, settings["secrets"])


def serve_databases() -> int:
    """PostgreSQL and Redis in the foreground; the container ends when either does."""
    servers = [
        subprocess.Popen([str(pg_bin() / "postgres"), "-D", str(PG_DATA)], user="postgres"),
        subprocess.Popen(["redis-server", "/etc/redis/staging.conf"], user="redis"),
    ]

    def stop(signum: int, _frame: object) -> None:
        for server in servers:
            server.send_signal(signal.SIGTERM if signum == signal.SIGTERM else signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        pid, status = os.wait()
        if any(server.pid == pid for server in servers):
            stop(signal.SIGTERM, None)
            for server in servers:
                server.wait()
            return os.waitstatus_to_exitcode(status)


def main(argv: list[str]) -> int:
    if argv[0] == "--serve-databases":
        return serve_databases()
    seed = Path(argv[0])
    settings = json.loads((seed / "settings.json").read_text("utf-8"))
    pwd.getpwnam("root")  # fail early on a broken image
    {"app": app, "db": db}[settings["role"]](seed, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
