"""The PostgreSQL image's first start: from the cluster the image holds when the initdb
options match (a single-user session sets the run's passwords), from an initdb of its own
when they do not; either way the run's passwords, and only they, open it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pytest
from containers_helpers import Engine
from docker.models.containers import Container

from stackproof.containers import labels
from stackproof.containers.images import BuiltImages
from stackproof.readiness import Check, wait_for
from stackproof.run import new_run_id

pytestmark = pytest.mark.containers

START_TIMEOUT_S = 120


@dataclass(frozen=True)
class _AcceptsPassword:
    port: int
    password: str

    @property
    def description(self) -> str:
        return f"PostgreSQL on 127.0.0.1:{self.port} accepts the superuser's password"

    def check(self) -> Check:
        try:
            _query(self.port, "postgres", self.password, "SELECT 1")
        except psycopg.Error as error:
            return Check(False, type(error).__name__)
        return Check(True, "connected")


def _query(port: int, user: str, password: str, statement: str, dbname: str = "postgres") -> str:
    with psycopg.connect(
        host="127.0.0.1", port=port, user=user, password=password, dbname=dbname, connect_timeout=5
    ) as connection:
        row = connection.execute(statement).fetchone()
    assert row is not None
    return str(row[0])


@contextmanager
def _postgres(engine: Engine, image: str, initdb_args: str) -> Iterator[tuple[Container, int]]:
    run_id = new_run_id()
    volume = engine.client.volumes.create(labels={labels.RUN: run_id})
    container = engine.client.containers.run(
        image,
        detach=True,
        labels={labels.RUN: run_id},
        environment={
            "POSTGRES_PASSWORD": "superuser-pass",
            "POSTGRES_APP_USER": "stack",
            "POSTGRES_APP_PASSWORD": "app-pass",
            "POSTGRES_INITDB_ARGS": initdb_args,
        },
        volumes={volume.name: {"bind": "/var/lib/postgresql/data", "mode": "rw"}},
        ports={"5432/tcp": ("127.0.0.1", None)},
    )
    try:
        container.reload()
        port = _published(container)
        wait_for(
            _AcceptsPassword(port, "superuser-pass"),
            timeout_s=START_TIMEOUT_S,
            what="the postgres container",
            log_tail=lambda: container.logs(tail=20).decode(errors="replace"),
        )
        yield container, port
    finally:
        container.remove(force=True)
        volume.remove(force=True)


def _published(container: Container) -> int:
    return int(container.ports["5432/tcp"][0]["HostPort"])


def _initialised(container: Container) -> list[str]:
    log = container.logs().decode(errors="replace")
    return [line for line in log.splitlines() if "postgres-entrypoint: initialised" in line]


def test_the_first_start_sets_the_run_passwords_on_the_images_cluster(
    engine: Engine, reference_images: BuiltImages
) -> None:
    with _postgres(engine, reference_images.images["postgres"].ref, "--no-sync") as (
        container,
        port,
    ):
        assert _initialised(container) == [
            "postgres-entrypoint: initialised /var/lib/postgresql/data (the image's cluster)"
        ]
        assert _query(port, "stack", "app-pass", "SELECT current_database()", "stack") == "stack"
        with pytest.raises(psycopg.OperationalError):
            _query(port, "postgres", "not-the-password", "SELECT 1")
        container.restart(timeout=30)  # a second start keeps the cluster and its passwords
        container.reload()  # a port published as "any" is chosen again at each start
        wait_for(
            _AcceptsPassword(_published(container), "superuser-pass"),
            timeout_s=START_TIMEOUT_S,
            what="the restarted postgres container",
        )
        assert len(_initialised(container)) == 1


def test_other_initdb_options_get_a_cluster_of_their_own(
    engine: Engine, reference_images: BuiltImages
) -> None:
    with _postgres(
        engine, reference_images.images["postgres"].ref, "--no-sync --data-checksums"
    ) as (container, port):
        assert _initialised(container) == [
            "postgres-entrypoint: initialised /var/lib/postgresql/data (a new cluster)"
        ]
        assert _query(port, "postgres", "superuser-pass", "SHOW data_checksums") == "on"
        assert _query(port, "stack", "app-pass", "SELECT current_user", "stack") == "stack"
