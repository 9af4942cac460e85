"""The server, embeddable two ways: on the running event loop (`ToxiproxyServer`, async) or
on an event loop of its own in a daemon thread (`ServerThread`, for synchronous tests)."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from types import TracebackType

from stackproof.errors import ServiceStartError, StackproofError
from stackproof.toxiproxy.addresses import HostPort, resolve_listen
from stackproof.toxiproxy.api import ToxiproxyApi
from stackproof.toxiproxy.collection import ProxyCollection
from stackproof.toxiproxy.errors import ApiError
from stackproof.toxiproxy.http import HttpServer, Request
from stackproof.toxiproxy.sockets import resolve

DEFAULT_PORT = 8474  # Toxiproxy's


class ToxiproxyServer:
    """A Toxiproxy-API server on the current event loop.

    `seed` makes toxicity draws, jitter and slicer sizes reproducible.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        allow_non_loopback: bool = False,
        seed: int | None = None,
    ) -> None:
        self._host, self._port = host, port
        self._allow_non_loopback = allow_non_loopback
        self.collection = ProxyCollection(random.Random(seed))  # noqa: S311 - not crypto
        self.api = ToxiproxyApi(self.collection, allow_non_loopback=allow_non_loopback)
        self._http: HttpServer | None = None
        self._bound: HostPort | None = None

    @property
    def url(self) -> str:
        if self._bound is None:
            raise RuntimeError("the server is not started")
        return f"http://{self._bound}"

    async def start(self) -> None:
        try:
            address = await resolve_listen(
                str(HostPort(self._host, self._port)), allow_non_loopback=self._allow_non_loopback
            )
        except ApiError as error:
            raise ValueError(f"API address: {error.message}") from None
        self._http = HttpServer(self.api.handle, address.ip, address.port)
        host, port = await self._http.start()
        self._bound = HostPort(host, port)

    async def stop(self) -> None:
        """Stop serving the API, then stop every proxy and close its connections."""
        if self._http is not None:
            await self._http.stop()
            self._http = None
        self.collection.close()

    async def populate(self, proxies: list[object]) -> None:
        """Create proxies as `POST /populate` would (the `-config` file of toxiproxy-server)."""
        request = Request("POST", "/populate", {}, json.dumps(proxies).encode())
        response = await self.api.handle(request)
        if response.status != 201:
            raise ValueError(f"populate failed: {response.body.decode().strip()}")

    async def __aenter__(self) -> ToxiproxyServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class ServerThread:
    """A `ToxiproxyServer` on its own event loop in a daemon thread.

    `with ServerThread() as server:` starts it on a free loopback port (`server.url`) and
    stops it, closing every proxy and connection, when the block ends.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_non_loopback: bool = False,
        seed: int | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.server = ToxiproxyServer(host, port, allow_non_loopback=allow_non_loopback, seed=seed)
        self._timeout_s = timeout_s
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Future[None] | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> ServerThread:
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="stackproof-toxiproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._timeout_s):
            raise ServiceStartError(f"toxiproxy server thread not ready in {self._timeout_s:g} s")
        if self._error is not None:
            raise ServiceStartError(f"toxiproxy server did not start: {self._error}")
        return self

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(resolve, stopping)
        if self._thread is not None:
            self._thread.join(self._timeout_s)
            if self._thread.is_alive():
                raise StackproofError("toxiproxy server thread did not stop")
            self._thread = None

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = self._loop.create_future()
        try:
            await self.server.start()
        except Exception as error:  # handed to the starting thread, which raises it
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopping
        finally:
            await self.server.stop()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
