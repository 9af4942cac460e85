"""The fault proxy of a compose stack: a Toxiproxy-API server in a container of the project.

The server is `stackproof/toxiproxy` (stackproof's built-in server as an image) or, where the
profile names one (`compose.toxiproxy_image`), a real Toxiproxy image. It joins the project's
network; its API is published on 127.0.0.1 only, for the harness. Every link of the profile
gets a proxy there, before any source starts (the built-in server reads them from a config
file as it starts, so the whole project comes up in one `compose up`; a named image gets
them through its API before the sources are started), routed one of two ways
(`compose.routing`):

- `env`: each link has a proxy of its own, listening on a port of the proxy container
  (`spf-toxiproxy:20000`, ...); the source is handed that address through the override's
  `environment` (the profile's `{{ link.<target>.* }}` templates) or the reference stack's
  inputs (its secret files and nginx config);
- `alias`: the proxy takes over each target's network alias (`postgres`) and the real
  service answers as `spf-upstream-<target>` on a network of its own, so a source's own
  `DATABASE_URL` goes through the proxy unchanged. One proxy per target: every link to a
  target shares it (a fault on `bot-postgres` is also one on `auth-postgres`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stackproof.backends.values import Endpoint, LinkProxy, link_name
from stackproof.errors import ProfileError, ServiceStartError
from stackproof.toxiproxy import ToxiproxyClient, ToxiproxyError

PROXY_SERVICE = "spf-toxiproxy"
API_PORT = 8474
FIRST_LISTEN_PORT = 20000
UPSTREAM_PREFIX = "spf-upstream-"
UPSTREAM_NETWORK_PREFIX = "spf-up-"


def upstream_alias(target: str) -> str:
    return f"{UPSTREAM_PREFIX}{target}"


def upstream_network(target: str) -> str:
    return f"{UPSTREAM_NETWORK_PREFIX}{target}"


@dataclass(frozen=True, slots=True)
class Link:
    source: str  # compose service names
    target: str
    target_port: int  # where the target listens in its container


@dataclass
class ProxyPlan:
    """Which proxies the server gets, and where each source reaches each target."""

    routing: str
    links: Mapping[str, LinkProxy] = field(default_factory=dict)

    def address(self, source: str, target: str) -> str:
        """host:port where `source` reaches `target` (as the containers see it)."""
        return self.links[link_name(source, target)].listen.address

    @property
    def targets(self) -> list[str]:
        return sorted({link.target for link in self.links.values()})

    def sources_of(self, target: str) -> list[str]:
        return sorted({link.source for link in self.links.values() if link.target == target})

    def targets_of(self, source: str) -> list[str]:
        return sorted({link.target for link in self.links.values() if link.source == source})


def plan_proxies(links: Sequence[Link], routing: str) -> ProxyPlan:
    """Proxies for `links`, named after the link (env) or the target (alias)."""
    planned: dict[str, LinkProxy] = {}
    if routing == "env":
        for index, link in enumerate(links):
            name = link_name(link.source, link.target)
            listen = Endpoint(PROXY_SERVICE, FIRST_LISTEN_PORT + index)
            upstream = Endpoint(link.target, link.target_port)
            planned[name] = LinkProxy(name, link.source, link.target, name, listen, upstream)
        return ProxyPlan(routing, planned)
    listeners: dict[int, str] = {}
    for link in links:
        other = listeners.setdefault(link.target_port, link.target)
        if other != link.target:
            raise ProfileError(
                f"compose.routing = 'alias': {other} and {link.target} both listen on "
                f"{link.target_port}, and the proxy can listen there for one of them only; "
                "use compose.routing = 'env' (and the profile's link templates) instead"
            )
        name = link_name(link.source, link.target)
        listen = Endpoint(link.target, link.target_port)  # the alias the proxy took over
        upstream = Endpoint(upstream_alias(link.target), link.target_port)
        planned[name] = LinkProxy(name, link.source, link.target, link.target, listen, upstream)
    return ProxyPlan(routing, planned)


class ContainerFaultNetwork:
    """The stack's `FaultNetwork`: the proxy container's API, reached on 127.0.0.1."""

    def __init__(self, plan: ProxyPlan, api: Endpoint, by_profile_name: Mapping[str, str]) -> None:
        self.plan = plan
        self.api = api
        # The suites name links by the profile's service names; the proxies by compose's.
        self._links = {
            link_name(
                by_profile_name.get(p.source, p.source), by_profile_name.get(p.target, p.target)
            ): p
            for p in plan.links.values()
        }
        self._client: ToxiproxyClient | None = None

    @property
    def url(self) -> str:
        return self.api.url()

    @property
    def links(self) -> dict[str, LinkProxy]:
        return dict(self._links)

    def link(self, name: str) -> LinkProxy:
        found = self._links.get(name)
        if found is None:
            known = ", ".join(sorted(self._links)) or "none"
            raise KeyError(f"no link {name!r} runs through the fault proxy (links: {known})")
        return found

    def proxy_documents(self) -> list[dict[str, object]]:
        """Every proxy of the plan as `POST /populate` (and `-config`) take them."""
        made: dict[str, dict[str, object]] = {}
        for link in self.plan.links.values():
            # alias routing: one proxy per target, however many links share it
            made.setdefault(
                link.proxy,
                {
                    "name": link.proxy,
                    "listen": f"0.0.0.0:{link.listen.port}",
                    "upstream": link.upstream.address,
                    "enabled": True,
                },
            )
        return list(made.values())

    def create_proxies(self) -> None:
        """Every proxy of the plan, on the server (which must answer)."""
        try:
            self._api().populate(self.proxy_documents())
        except ToxiproxyError as error:
            raise ServiceStartError(
                f"fault proxy: the server at {self.url} refused the stack's proxies ({error})"
            ) from None

    def check_proxies(self) -> None:
        """The server made every proxy of the plan from its `-config` file."""
        found = self._api().proxies()
        missing = sorted(str(p["name"]) for p in self.proxy_documents() if p["name"] not in found)
        if missing:
            raise ServiceStartError(
                f"fault proxy: the server at {self.url} has no proxy {', '.join(missing)} "
                "although its config file names them: see its log"
            )

    def _api(self) -> ToxiproxyClient:
        if self._client is None:
            self._client = ToxiproxyClient(self.url)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
