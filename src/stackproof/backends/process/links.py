"""The process backend's fault network: a Toxiproxy-API server and one proxy per link.

`LinkNetwork.route` is the process stack's `link_router`: when a service is wired to a
service it links to, a proxy named after the link (`bot-postgres`: source, dash, target; a
dash never occurs in service names) is made on the server, and the service is handed the
proxy's address instead of the target's. Every link of the profile runs through it, so a
new link (say to a Sentry fake) is faultable as soon as the profile names it.

The server is, by the profile's `[faults.toxiproxy]`:

- `builtin` (default): `python -m stackproof.toxiproxy`, a process of the run;
- `binary`: a `toxiproxy-server` the profile names, a process of the run, started with the
  real server's flags (`-host`, `-port`);
- `url`: a server already running on this host. The run is a guest there: its proxies are
  prefixed with the run ID and stack label, only they are ever changed or deleted, and the
  server is never reset or stopped.

Servers the run starts are managed processes (own session, run ID in the environment, killed
with the harness); every server and proxy is recorded in the run's manifest.
"""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

import httpx

from stackproof.backends.values import Endpoint, LinkProxy, link_name
from stackproof.errors import MissingBinaryError, ServiceStartError
from stackproof.procs import ManagedProcess, ProcessSpec
from stackproof.profile.chaos import FaultSettings
from stackproof.readiness import HttpStatus, wait_for
from stackproof.run import RunContext
from stackproof.toxiproxy import ToxiproxyClient, ToxiproxyError, ToxiproxyNotFoundError

LOOPBACK = "127.0.0.1"
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
SERVER_LOG = "toxiproxy.log"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def toxiproxy_binary(named: str) -> Path:
    """The binary `faults.toxiproxy.binary` names: a path, or a name looked up on PATH."""
    found = shutil.which(named)
    if found is None:
        raise MissingBinaryError(
            f"faults.toxiproxy.binary: {named!r} is not an executable file or on PATH; "
            "install toxiproxy-server, or remove the key to use the built-in server"
        )
    return Path(found)


class LinkNetwork:
    """The fault proxies of one stack (a `FaultNetwork`). `start` from the main thread;
    `close` removes all."""

    def __init__(self, settings: FaultSettings, run: RunContext, label: str) -> None:
        self.settings = settings.toxiproxy
        self.run = run
        self.label = label
        self.kind = self.settings.kind
        self.url = self.settings.url or ""
        self._prefix = f"{run.run_id}.{label}." if self.kind == "url" else ""
        self._process: ManagedProcess | None = None
        self._client: ToxiproxyClient | None = None
        self._ready = False
        self._links: dict[str, LinkProxy] = {}

    # --- the server ---

    def start(self) -> None:
        """Start the run's own server (readiness is awaited at the first link), or check
        that the named one answers."""
        if self.kind == "url":
            self._client = ToxiproxyClient(self.url)
            self._await_ready()
            self.run.record("fault_server", stack=self.label, server="url", url=self.url)
            return
        port = _free_port()
        self.url = f"http://{LOOPBACK}:{port}"
        argv = self._server_argv(port)
        log_path = self.run.logs_dir(self.label) / SERVER_LOG
        spec = ProcessSpec(
            name="toxiproxy",
            argv=tuple(argv),
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"},
            cwd=log_path.parent,
            log_path=log_path,
        )
        self._process = ManagedProcess(spec, self.run.run_id)
        pid = self._process.start()
        self._client = ToxiproxyClient(self.url)
        self.run.record(
            "fault_server", stack=self.label, server=self.kind, url=self.url, pid=pid, port=port
        )
        self.run.record("process", stack=self.label, service="toxiproxy", pid=pid)

    def _server_argv(self, port: int) -> list[str]:
        if self.kind == "binary":
            assert self.settings.binary is not None
            binary = toxiproxy_binary(self.settings.binary)
            return [str(binary), "-host", LOOPBACK, "-port", str(port)]
        return [
            sys.executable, "-m", "stackproof.toxiproxy",
            "--host", LOOPBACK, "--port", str(port), "--log-level", "WARNING",
        ]  # fmt: skip

    def _await_ready(self) -> None:
        if self._ready:
            return
        process = self._process
        what = (
            f"the fault proxy server ({self.kind})"
            if process
            else f"faults.toxiproxy.url {self.url}"
        )
        wait_for(
            HttpStatus(f"{self.url}/version", timeout_s=1.0),
            timeout_s=READY_TIMEOUT_S if process else 3.0,
            what=what,
            hint=(
                f"see {process.spec.log_path}"
                if process
                else "start toxiproxy-server there, or remove faults.toxiproxy.url "
                "to use the built-in server"
            ),
            log_tail=process.log_tail if process else None,
            give_up=process.exited_reason if process else None,
        )
        self._ready = True

    @property
    def client(self) -> ToxiproxyClient:
        if self._client is None:
            raise RuntimeError("the fault network is not started")
        return self._client

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    # --- links ---

    def route(self, source: str, target: str, endpoint: Endpoint) -> Endpoint:
        """The process stack's link router: a proxy for the link, its address for the source."""
        name = link_name(source, target)
        known = self._links.get(name)
        if known is not None and known.upstream == endpoint:
            return known.listen
        self._await_ready()
        proxy = self._prefix + name
        try:
            created = self.client.create_proxy(proxy, endpoint.address, listen=f"{LOOPBACK}:0")
        except ToxiproxyError as error:
            raise ServiceStartError(
                f"fault proxy for link {name}: the server at {self.url} refused it ({error})"
            ) from None
        listen = Endpoint(created.host, created.port)
        link = LinkProxy(name, source, target, proxy, listen, endpoint)
        self._links[name] = link
        self.run.record(
            "fault_proxy",
            stack=self.label,
            link=name,
            proxy=proxy,
            listen=link.listen.address,
            upstream=endpoint.address,
        )
        return link.listen

    @property
    def links(self) -> dict[str, LinkProxy]:
        return dict(self._links)

    def link(self, name: str) -> LinkProxy:
        found = self._links.get(name)
        if found is None:
            known = ", ".join(sorted(self._links)) or "none"
            raise KeyError(f"no link {name!r} runs through the fault proxy (links: {known})")
        return found

    # --- the end ---

    def close(self) -> None:
        """Delete this stack's proxies, then stop the server if the run started it."""
        try:
            for link in list(self._links.values()):
                self._delete(link)
        finally:
            self._links.clear()
            if self._client is not None:
                self._client.close()
            if self._process is not None:
                self._process.stop(STOP_TIMEOUT_S)
                self.run.record("fault_server_stopped", stack=self.label, pid=self._process.pid)

    def _delete(self, link: LinkProxy) -> None:
        if self._process is not None and not self._process.running():
            return  # the server is gone, and its proxies with it
        try:
            self.client.delete_proxy(link.proxy)
        except ToxiproxyNotFoundError:
            pass
        except (ToxiproxyError, httpx.HTTPError) as error:
            self.run.record(
                "fault_proxy_left", stack=self.label, proxy=link.proxy, error=str(error)
            )
            return
        self.run.record("fault_proxy_removed", stack=self.label, proxy=link.proxy)
