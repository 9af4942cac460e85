"""Drive a stack down its error paths and keep everything it said (the redaction suite).

`ErrorPathDrive.run()` sends traffic through the public front while each fault holds —
wrong database password, database down, cache down, the upstream API answering 500 — and
malformed requests, as a user with a fresh Discord user and guild ID. Every answer is kept
(status, body, request ID); the IDs and interaction tokens sent are registered as canaries.
Faults undo themselves (`finally`), also when a request fails.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import psycopg
from psycopg import sql

from stackproof.backends import Stack
from stackproof.checks.commands import command_settings, signer
from stackproof.checks.health import join_path
from stackproof.checks.http import FrontClient
from stackproof.checks.leaks import ErrorAnswer, discord_id
from stackproof.fakes.discord import application_command
from stackproof.profile import Profile
from stackproof.run import SecretRegistry

REQUEST_TIMEOUT_S = 15.0


@dataclass
class Exchange:
    request: str
    status: int | None
    body: bytes
    request_id: str | None


@dataclass
class ErrorPathDrive:
    stack: Stack
    profile: Profile
    registry: SecretRegistry
    user_id: str = field(default_factory=discord_id)
    guild_id: str = field(default_factory=discord_id)
    exchanges: list[Exchange] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.registry.add("discord.user_id", self.user_id)
        self.registry.add("discord.guild_id", self.guild_id)
        self._front = FrontClient(self.stack.public, timeout_s=REQUEST_TIMEOUT_S)

    # -- what came back ------------------------------------------------------------------------

    def error_answers(self) -> list[ErrorAnswer]:
        """The 4xx/5xx answers of the services under redaction: not the front's own, and not
        health answers (their body is the readiness report R-HLT-2 asks for)."""
        assert self.profile.redaction is not None
        prefixes: list[str] = []
        health_paths: set[str] = set()
        for name in self.profile.redaction.services:
            health = self.profile.services[name].health
            if health.public_prefix:
                prefixes.append(health.public_prefix)
                health_paths |= {
                    join_path(health.public_prefix, path)
                    for path in (health.liveness, health.readiness)
                    if path
                }
        answers = []
        for e in self.exchanges:
            path = e.request.split(" ", 1)[1]
            if e.status is None or e.status < 400 or path in health_paths:
                continue
            if path.startswith(tuple(prefixes)):
                body = e.body.decode("utf-8", "replace")
                answers.append(ErrorAnswer(e.request, e.status, body, e.request_id))
        return answers

    # -- traffic -------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | str | None = None,
    ) -> int | None:
        try:
            response = self._front.https(method, path, headers=headers, content=content)
        except httpx.HTTPError as error:
            self.exchanges.append(
                Exchange(f"{method} {path}", None, type(error).__name__.encode(), None)
            )
            return None
        self.exchanges.append(
            Exchange(
                f"{method} {path}",
                response.status_code,
                response.content,
                response.headers.get("X-Request-ID"),
            )
        )
        return response.status_code

    def interaction(self, query: str) -> int | None:
        """A signed command from this drive's user and guild; its token is a canary too."""
        settings = command_settings(self.stack)
        discord = signer(self.stack)
        token = self.registry.add("discord.interaction_token", secrets.token_urlsafe(32))
        payload = application_command(
            settings.name,
            {**settings.options, "query": query},
            interaction_id=discord.snowflakes.next(),
            application_id=discord.application_id,
            user_id=self.user_id,
            guild_id=self.guild_id,
            channel_id=discord_id(),
            token=token,
        )
        body, headers = discord.signed(payload)
        return self.send("POST", settings.path, headers=headers, content=body)

    def canary_calls(self) -> None:
        """A write and a read of the profile's canary routes: both touch the database."""
        canary = self.profile.canary
        if canary is None:
            return
        prefix = self.profile.services[canary.service].health.public_prefix or ""
        token = self.stack.secret(canary.token_secret) if canary.token_secret else ""
        headers = {canary.token_header: token, "Content-Type": "application/json"}
        seq = secrets.randbelow(10**6) + 10**6
        written = f'{{"seq": {seq}, "written_at": "2026-01-01T00:00:00+00:00"}}'
        self.send("POST", join_path(prefix, canary.write_path), headers=headers, content=written)
        self.send("GET", join_path(prefix, canary.read_path), headers=headers)

    def readiness(self) -> None:
        assert self.profile.redaction is not None
        for name in self.profile.redaction.services:
            health = self.profile.services[name].health
            if health.public_prefix and health.readiness:
                self.send("GET", join_path(health.public_prefix, health.readiness))

    # -- faults --------------------------------------------------------------------------------

    def _database(self) -> str:
        names = [n for n, s in self.profile.services.items() if s.kind == "postgres"]
        return names[0]

    @contextmanager
    def wrong_database_password(self) -> Iterator[None]:
        """The services' role gets another password (their DSN is now wrong); put back after."""
        database = self.stack.service(self._database())
        app = urlsplit(database.connection_url())
        user, password = app.username or "", app.password or ""
        wrong = self.registry.generate("postgres.wrong_password")
        with psycopg.connect(database.admin_url(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(wrong)
                )
            )
            # Connections made before keep working: end them, so the next ones must log in.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (user,),
            )
        try:
            yield
        finally:
            with psycopg.connect(database.admin_url(), autocommit=True) as admin:
                admin.execute(
                    sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                        sql.Identifier(user), sql.Literal(password)
                    )
                )

    @contextmanager
    def stopped(self, name: str) -> Iterator[None]:
        service = self.stack.service(name)
        service.stop()
        try:
            yield
        finally:
            service.start(wait=True)

    @contextmanager
    def upstream_outage(self, status: int = 500) -> Iterator[None]:
        assert self.profile.redaction is not None
        upstream = self.profile.redaction.upstream
        if upstream is None:
            yield
            return
        control = self.stack.service(upstream).endpoint().url(path="/_stackproof/outage")
        httpx.put(control, json={"status": status}, timeout=5.0).raise_for_status()
        try:
            yield
        finally:
            httpx.delete(control, timeout=5.0).raise_for_status()

    # -- the drive -----------------------------------------------------------------------------

    def run(self) -> None:
        command = command_settings(self.stack)
        self.steps.append("steady: a command and the canary")
        self.interaction(command.options.get("query", "Cowboy Bebop"))
        self.canary_calls()
        self.steps.append("wrong database password")
        with self.wrong_database_password():
            self.canary_calls()
            self.readiness()
        cache = command.cache
        self.steps.append("database down")
        with self.stopped(self._database()):
            self.canary_calls()
            self.readiness()
            self.interaction(f"no such title {secrets.token_hex(4)}")
        if cache is not None:
            self.steps.append("cache down")
            with self.stopped(cache):
                self.interaction(command.options.get("query", "Cowboy Bebop"))
                self.readiness()
        self.steps.append("upstream answering 500")
        with self.upstream_outage(500):
            self.interaction(f"outage {secrets.token_hex(4)}")
        self.steps.append("malformed requests")
        self.malformed()

    def malformed(self) -> None:
        settings = command_settings(self.stack)
        discord = signer(self.stack)
        json_type = {"Content-Type": "application/json"}
        self.send("POST", settings.path, headers=json_type, content=b'{"type": 2}')
        bad = {**discord.sign(b"{}"), "X-Signature-Ed25519": "00" * 64}
        self.send("POST", settings.path, headers=bad, content=b"{}")
        for body in (b"{not json", b"[1, 2]", b'{"type": 2, "data": 7}', b'{"type": 99}'):
            self.send("POST", settings.path, headers=discord.sign(body), content=body)
        self.send("GET", settings.path)
        assert self.profile.redaction is not None
        for name in self.profile.redaction.services:
            prefix = self.profile.services[name].health.public_prefix
            if prefix:
                self.send(
                    "GET", join_path(prefix, f"stackproof-no-such-page-{secrets.token_hex(3)}")
                )
        canary = self.profile.canary
        if canary is not None:
            prefix = self.profile.services[canary.service].health.public_prefix or ""
            self.send("POST", join_path(prefix, canary.write_path), content=b"{}")
            token = self.stack.secret(canary.token_secret) if canary.token_secret else ""
            self.send(
                "POST",
                join_path(prefix, canary.write_path),
                headers={canary.token_header: token, **json_type},
                content=b'{"seq": "x"',
            )

    def close(self) -> None:
        self._front.close()
