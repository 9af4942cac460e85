"""PostgreSQL as a local process: initdb, run unprivileged when root, create the stack's role."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from stackproof import binaries
from stackproof.backends.process.pgtemplate import build_template, cached_template, template_key
from stackproof.backends.process.service import LOOPBACK, ProcessService, ServiceContext
from stackproof.backends.values import Endpoint
from stackproof.procs import UNPRIVILEGED_UID, ProcessSpec, is_root, run_commands
from stackproof.readiness import Check

SUPERUSER = "postgres"
INITDB_TIMEOUT_S = 120.0
INITDB_OPTIONS = (
    f"--username={SUPERUSER}",
    "--auth-local=scram-sha-256",
    "--auth-host=scram-sha-256",
    "--encoding=UTF8",
    "--locale=C",
    "--no-sync",  # the template is copied, never run from; durability of initdb buys nothing
)


def dsn(user: str, password: str, endpoint: Endpoint, database: str) -> str:
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{endpoint.address}/{quote(database, safe='')}"
    )


@dataclass(frozen=True, slots=True)
class AcceptsQueries:
    """The server answers `SELECT 1` (a TCP accept alone happens before recovery ends)."""

    url: str
    endpoint: Endpoint

    @property
    def description(self) -> str:
        return f"PostgreSQL on {self.endpoint.address} answers SELECT 1"

    def check(self) -> Check:
        try:
            with psycopg.connect(self.url, connect_timeout=2, autocommit=True) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error as error:
            return Check(False, str(error).strip().splitlines()[0] if str(error) else repr(error))
        return Check(True, "ok")


class PostgresService(ProcessService):
    LINK_FACTS = (*ProcessService.LINK_FACTS, "database", "user", "password", "bin_dir")

    def __init__(self, context: ServiceContext) -> None:
        super().__init__(context)
        database = context.spec.database
        assert database is not None  # the profile model fills it for postgres services
        self.database = database
        secrets = context.run.secrets
        self.run_superuser_password = secrets.generate(f"{context.name}.superuser_password")
        self.superuser_password = self.run_superuser_password
        self.user_password = secrets.generate(f"{context.name}.password")
        self.run_as = UNPRIVILEGED_UID if is_root() else None
        self.bin_dir = binaries.postgres_bin_dir(
            database.version,
            context.spec.process.binary,
            for_other_user=self.run_as is not None,
        )

    @property
    def data_dir(self) -> Path:
        return self.context.state_dir / "data"

    def binary(self, name: str) -> Path:
        return self.bin_dir / name

    def admin_url(self, endpoint: Endpoint | None = None) -> str:
        return dsn(
            SUPERUSER, self.superuser_password, endpoint or self.context.endpoint(), "postgres"
        )

    def _unprivileged(self, spec: ProcessSpec) -> ProcessSpec:
        return replace(spec, run_as_uid=self.run_as, cwd=self.context.state_dir)

    def _initdb(self, data: Path, password_file: Path) -> None:
        argv = [
            str(self.binary("initdb")),
            f"--pgdata={data}",
            f"--pwfile={password_file}",
            *INITDB_OPTIONS,
        ]
        spec = self._unprivileged(self.context.process_spec(argv, label=".initdb"))
        run_commands([spec], self.context.run.run_id, INITDB_TIMEOUT_S)

    def prepare(self) -> Sequence[ProcessSpec]:
        self.owned_state_dir()
        key = template_key(self.binary("postgres"), INITDB_OPTIONS)
        template = cached_template(key) or build_template(key, self._initdb)
        template.copy_to(self.data_dir)
        # Until bootstrap replaces it, the superuser has the template's password.
        self.superuser_password = self.context.run.secrets.add(
            f"{self.context.name}.template_password", template.password
        )
        return ()

    def command(self) -> ProcessSpec:
        settings = {
            "listen_addresses": LOOPBACK,
            "port": self.context.ports[self.context.spec.primary_port],
            "unix_socket_directories": "",  # TCP only: nothing to clean up in /run or /tmp
            **self.context.spec.process.settings,
        }
        argv = [str(self.binary("postgres")), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        spec = self.context.process_spec(argv)
        # SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client.
        return replace(self._unprivileged(spec), stop_signal=signal.SIGINT)

    def readiness(self) -> AcceptsQueries:
        return AcceptsQueries(self.admin_url(), self.context.endpoint())

    def after_first_ready(self) -> None:
        with psycopg.connect(self.admin_url(), autocommit=True) as connection:
            connection.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(self.run_superuser_password)
                )
            )
            self.superuser_password = self.run_superuser_password
            connection.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(self.database.user), sql.Literal(self.user_password)
                )
            )
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(self.database.name), sql.Identifier(self.database.user)
                )
            )

    def link_facts(self, endpoint: Endpoint) -> dict[str, str]:
        return {
            "url": dsn(self.database.user, self.user_password, endpoint, self.database.name),
            "host": endpoint.host,
            "port": str(endpoint.port),
            "address": endpoint.address,
            "database": self.database.name,
            "user": self.database.user,
            "password": self.user_password,
            "bin_dir": str(self.bin_dir),  # pg_dump and pg_restore of the server's version
        }

    def exec_env(self) -> dict[str, str]:
        endpoint = self.context.endpoint()
        return {
            **super().exec_env(),
            "PATH": f"{self.bin_dir}:{super().exec_env()['PATH']}",
            "PGHOST": endpoint.host,
            "PGPORT": str(endpoint.port),
            "PGUSER": SUPERUSER,
            "PGPASSWORD": self.superuser_password,
            "PGDATABASE": self.database.name,
        }
