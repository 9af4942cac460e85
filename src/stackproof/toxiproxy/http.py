"""A small HTTP/1.1 server on asyncio streams: enough for a JSON API and its clients.

Persistent connections, Content-Length and chunked request bodies, `Expect: 100-continue`,
bounded header and body sizes, and an idle timeout (Go's server closes idle connections
after 60 s too). No TLS: the API is for loopback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final

log = logging.getLogger(__name__)

MAX_HEAD: Final = 64 * 1024
MAX_BODY: Final = 4 * 1024 * 1024
IDLE_TIMEOUT_S: Final = 60.0
READ_TIMEOUT_S: Final = 15.0  # for the rest of a request once it has started (Go: 15 s)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Awaitable[Response]]


class BadRequestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpServer:
    """Serves `handler` on host:port until `stop()`."""

    def __init__(self, handler: Handler, host: str, port: int) -> None:
        self._handler = handler
        self._host, self._port = host, port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, limit=MAX_HEAD, reuse_address=True
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._one_exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _one_exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Read one request and answer it; whether the connection stays open."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_S)
        except asyncio.IncompleteReadError as eof:
            if eof.partial.strip():
                await _write(writer, _plain(400, "malformed request"), keep_alive=False)
            return False
        except asyncio.LimitOverrunError:
            await _write(writer, _plain(431, "request header too large"), keep_alive=False)
            return False
        try:
            method, path, version, headers = _parse_head(head)
            body = await asyncio.wait_for(_read_body(reader, writer, headers), READ_TIMEOUT_S)
        except BadRequestError as error:
            await _write(writer, _plain(error.status, str(error)), keep_alive=False)
            return False
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        try:
            response = await self._handler(Request(method, path, headers, body))
        except Exception:
            log.exception("API handler failed for %s %s", method, path)
            response = _plain(500, "internal server error")
        await _write(writer, response, keep_alive=keep_alive)
        return keep_alive


def _plain(status: int, text: str) -> Response:
    return Response(status, f"{text}\n".encode(), {"Content-Type": "text/plain; charset=utf-8"})


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequestError(400, "malformed request line") from None
    if not version.startswith("HTTP/1."):
        raise BadRequestError(505, "HTTP version not supported")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequestError(400, "malformed header line")
        headers[name.lower()] = value.strip()
    path = target.split("?", 1)[0]
    return method, path, version, headers


async def _read_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: Mapping[str, str]
) -> bytes:
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    length_text = headers.get("content-length")
    if not chunked and length_text is None:
        return b""
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if chunked:
        return await _read_chunked(reader)
    assert length_text is not None
    if not length_text.isdigit():
        raise BadRequestError(400, "bad Content-Length")
    length = int(length_text)
    if length > MAX_BODY:
        raise BadRequestError(413, "request body too large")
    return await reader.readexactly(length)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BadRequestError(400, "bad chunk size") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, ignored
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY:
            raise BadRequestError(413, "request body too large")
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise BadRequestError(400, "bad chunk framing")


async def _write(writer: asyncio.StreamWriter, response: Response, *, keep_alive: bool) -> None:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items()]
    if response.status != 204:
        lines.append(f"Content-Length: {len(response.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body)
    await writer.drain()
