"""The HTTP API: routes, status codes and bodies as Toxiproxy's api.go answers them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from toxiproxy_helpers import EchoServer, connect, recv_exactly, refused

from stackproof.errors import ServiceStartError
from stackproof.toxiproxy import ServerThread


@pytest.fixture
def http(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, trust_env=False) as raw:
        yield raw


def make_proxy(http: httpx.Client, name: str, upstream: str, **fields: object) -> httpx.Response:
    body = {"name": name, "upstream": upstream, "listen": "127.0.0.1:0", **fields}
    return http.post("/proxies", json=body)


def error(response: httpx.Response) -> str:
    body = response.json()
    assert body["status"] == response.status_code
    return str(body["error"])


def test_version_is_json(http: httpx.Client) -> None:
    response = http.get("/version")
    assert response.status_code == 200
    assert response.json()["version"].startswith("2.")


def test_create_reports_the_real_port(http: httpx.Client, echo: EchoServer) -> None:
    response = make_proxy(http, "redis", echo.address)
    assert response.status_code == 201
    proxy = response.json()
    assert list(proxy) == ["name", "listen", "upstream", "enabled", "toxics"]
    host, port = proxy["listen"].rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert proxy == {
        "name": "redis",
        "listen": proxy["listen"],
        "upstream": echo.address,
        "enabled": True,
        "toxics": [],
    }
    with connect(int(port)) as sock:
        sock.sendall(b"ping")
        assert recv_exactly(sock, 4) == b"ping"


def test_listen_on_localhost_resolves_to_ipv4(http: httpx.Client, echo: EchoServer) -> None:
    response = make_proxy(http, "p", echo.address, listen="localhost:0")
    assert response.status_code == 201
    assert response.json()["listen"].startswith("127.0.0.1:")


def ipv6_loopback() -> bool:
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback_listen(http: httpx.Client, echo: EchoServer) -> None:
    response = make_proxy(http, "v6", echo.address, listen="[::1]:0")
    assert response.status_code == 201
    listen = response.json()["listen"]
    assert listen.startswith("[::1]:")
    port = int(listen.rsplit(":", 1)[1])
    with socket.create_connection(("::1", port), timeout=10) as sock:
        sock.sendall(b"six")
        assert recv_exactly(sock, 3) == b"six"


def test_create_with_a_given_port(http: httpx.Client, echo: EchoServer) -> None:
    # A port free a moment ago can be taken by someone else in between: try a few.
    for _ in range(5):
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = probe.getsockname()[1]
        response = make_proxy(http, "fixed", echo.address, listen=f"127.0.0.1:{port}")
        if response.status_code != 500:
            break
    assert response.status_code == 201
    assert response.json()["listen"] == f"127.0.0.1:{port}"


def test_duplicate_proxy_is_409(http: httpx.Client, echo: EchoServer) -> None:
    assert make_proxy(http, "dup", echo.address).status_code == 201
    response = make_proxy(http, "dup", echo.address)
    assert response.status_code == 409
    assert error(response) == "proxy already exists"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"{", "bad request body", id="truncated-json"),
        pytest.param(b"", "bad request body: EOF", id="empty"),
        pytest.param(b"[]", "bad request body", id="not-an-object"),
        pytest.param(b'{"upstream": "127.0.0.1:1"}', "missing required field: name", id="no-name"),
        pytest.param(b'{"name": "x"}', "missing required field: upstream", id="no-upstream"),
        pytest.param(
            b'{"name": "x", "upstream": "nowhere"}',
            "bad request body: invalid upstream",
            id="bad-upstream",
        ),
        pytest.param(
            b'{"name": "x", "upstream": "127.0.0.1:1", "enabled": "y"}',
            "bad request body: enabled must be true or false",
            id="bad-enabled",
        ),
    ],
)
def test_bad_proxy_bodies_are_400(http: httpx.Client, body: bytes, message: str) -> None:
    response = http.post("/proxies", content=body)
    assert response.status_code == 400
    assert error(response).startswith(message)


@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0"])
def test_non_loopback_listen_is_refused(http: httpx.Client, listen: str) -> None:
    response = make_proxy(http, "open", "127.0.0.1:1", listen=listen)
    assert response.status_code == 400
    assert "not a loopback address" in error(response)
    assert http.get("/proxies").json() == {}


def test_non_loopback_listen_allowed_by_option(echo: EchoServer) -> None:
    with (
        ServerThread(allow_non_loopback=True) as server,
        httpx.Client(base_url=server.url, trust_env=False) as http,
    ):
        response = make_proxy(http, "open", echo.address, listen="0.0.0.0:0")
        assert response.status_code == 201
        assert response.json()["listen"].startswith("0.0.0.0:")


def test_non_loopback_api_address_is_refused() -> None:
    with pytest.raises(ServiceStartError, match="not a loopback address"):
        ServerThread(host="0.0.0.0").start()


def test_unknown_proxy_is_404(http: httpx.Client) -> None:
    for method, path in [
        ("GET", "/proxies/nope"),
        ("POST", "/proxies/nope"),
        ("DELETE", "/proxies/nope"),
        ("GET", "/proxies/nope/toxics"),
        ("POST", "/proxies/nope/toxics"),
        ("GET", "/proxies/nope/toxics/t"),
        ("DELETE", "/proxies/nope/toxics/t"),
    ]:
        response = http.request(method, path, json={})
        assert response.status_code == 404, (method, path)
        assert error(response) == "proxy not found"


def test_unknown_route_and_method(http: httpx.Client) -> None:
    assert http.get("/nothing").status_code == 404
    assert http.get("/proxies/").status_code == 404
    response = http.put("/proxies")
    assert response.status_code == 405
    assert response.content == b""


def test_browsers_are_refused(http: httpx.Client) -> None:
    response = http.get("/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert response.status_code == 403
    assert response.text == "User agent not allowed\n"


def test_show_update_delete(http: httpx.Client, echo: EchoServer) -> None:
    listen = make_proxy(http, "p", echo.address).json()["listen"]
    assert http.get("/proxies/p").json()["listen"] == listen
    assert http.get("/proxies").json()["p"]["listen"] == listen

    response = http.post("/proxies/p", json={"enabled": False})
    assert response.status_code == 200
    assert response.json()["enabled"] is False
    assert response.json()["listen"] == listen
    assert refused(int(listen.rsplit(":", 1)[1]))

    response = http.patch("/proxies/p", json={"enabled": True})
    assert response.json()["enabled"] is True
    assert response.json()["listen"] == listen  # re-enabled on the same port

    response = http.post("/proxies/p", json={"listen": "127.0.0.1:0"})
    moved = response.json()["listen"]
    assert moved != listen
    assert refused(int(listen.rsplit(":", 1)[1]))

    assert http.delete("/proxies/p").status_code == 204
    assert http.get("/proxies/p").status_code == 404
    assert refused(int(moved.rsplit(":", 1)[1]))


def test_listen_defaults_to_loopback(http: httpx.Client, echo: EchoServer) -> None:
    response = http.post("/proxies", json={"name": "p", "upstream": echo.address})
    assert response.status_code == 201
    assert response.json()["listen"].startswith("127.0.0.1:")


def test_create_disabled(http: httpx.Client, echo: EchoServer) -> None:
    response = make_proxy(http, "off", echo.address, enabled=False)
    assert response.status_code == 201
    assert response.json()["enabled"] is False


def test_toxic_defaults_and_listing(http: httpx.Client, echo: EchoServer) -> None:
    make_proxy(http, "p", echo.address)
    response = http.post("/proxies/p/toxics", json={"type": "latency"})
    assert response.status_code == 200  # Toxiproxy answers 200 here, not 201
    assert response.json() == {
        "attributes": {"latency": 0, "jitter": 0},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
    }
    up = {"type": "bandwidth", "stream": "upstream", "toxicity": 0.5, "attributes": {"rate": 7}}
    assert http.post("/proxies/p/toxics", json=up).json()["name"] == "bandwidth_upstream"

    listed = http.get("/proxies/p/toxics").json()
    assert [t["name"] for t in listed] == ["bandwidth_upstream", "latency_downstream"]
    assert http.get("/proxies/p").json()["toxics"] == listed
    assert http.get("/proxies/p/toxics/bandwidth_upstream").json()["attributes"] == {"rate": 7}


def test_toxic_update_keeps_what_is_not_given(http: httpx.Client, echo: EchoServer) -> None:
    make_proxy(http, "p", echo.address)
    body = {"type": "latency", "name": "lag", "attributes": {"latency": 100, "jitter": 10}}
    http.post("/proxies/p/toxics", json=body)
    response = http.post("/proxies/p/toxics/lag", json={"attributes": {"latency": 300}})
    assert response.status_code == 200
    assert response.json()["attributes"] == {"latency": 300, "jitter": 10}
    response = http.patch("/proxies/p/toxics/lag", json={"toxicity": 0.25})
    assert response.json()["toxicity"] == 0.25
    assert response.json()["attributes"] == {"latency": 300, "jitter": 10}


def test_toxic_errors(http: httpx.Client, echo: EchoServer) -> None:
    make_proxy(http, "p", echo.address)
    http.post("/proxies/p/toxics", json={"type": "latency"})
    cases = [
        ({"type": "latency"}, 409, "toxic already exists"),
        ({"type": "latency", "stream": "sideways"}, 400, "stream was invalid"),
        ({"type": "nonsense"}, 400, "invalid toxic type"),
        ({"type": "timeout", "toxicity": 2}, 400, "bad request body"),
        ({"type": "timeout", "attributes": {"timeout": "soon"}}, 400, "bad request body"),
        ({"type": "timeout", "attributes": {"timeout": -1}}, 400, "bad request body"),
        ({"type": "timeout", "attributes": {"timeout": 1.5}}, 400, "bad request body"),
        ({"type": "slicer", "attributes": {"average_size": 0}}, 400, "bad request body"),
        ({"type": "slicer", "attributes": {"average_size": 4, "size_variation": 4}}, 400, "bad"),
    ]
    for body, status, message in cases:
        response = http.post("/proxies/p/toxics", json=body)
        assert response.status_code == status, body
        assert error(response).startswith(message), body
    response = http.post("/proxies/p/toxics", content=b"{nope")
    assert response.status_code == 400
    assert http.get("/proxies/p/toxics/missing").status_code == 404
    assert error(http.delete("/proxies/p/toxics/missing")) == "toxic not found"
    assert http.post("/proxies/p/toxics/missing", json={}).status_code == 404
    response = http.post(
        "/proxies/p/toxics/latency_downstream", json={"attributes": {"latency": -5}}
    )
    assert response.status_code == 400
    assert [t["name"] for t in http.get("/proxies/p/toxics").json()] == ["latency_downstream"]


def test_unknown_attributes_are_ignored_like_go(http: httpx.Client, echo: EchoServer) -> None:
    make_proxy(http, "p", echo.address)
    body = {"type": "latency", "attributes": {"latency": 5, "colour": "red"}}
    response = http.post("/proxies/p/toxics", json=body)
    assert response.status_code == 200
    assert response.json()["attributes"] == {"latency": 5, "jitter": 0}


def test_delete_toxic_and_reset(http: httpx.Client, echo: EchoServer) -> None:
    make_proxy(http, "a", echo.address)
    make_proxy(http, "b", echo.address)
    http.post("/proxies/a/toxics", json={"type": "latency"})
    http.post("/proxies/b/toxics", json={"type": "timeout", "stream": "upstream"})
    assert http.delete("/proxies/a/toxics/latency_downstream").status_code == 204
    assert http.get("/proxies/a/toxics").json() == []
    http.post("/proxies/a", json={"enabled": False})

    assert http.post("/reset").status_code == 204
    proxies = http.get("/proxies").json()
    assert all(p["enabled"] and p["toxics"] == [] for p in proxies.values())


def test_populate_creates_keeps_and_replaces(http: httpx.Client, echo: EchoServer) -> None:
    with EchoServer() as other:
        items = [
            {"name": "one", "upstream": echo.address, "listen": "127.0.0.1:0"},
            {"name": "two", "upstream": echo.address, "listen": "127.0.0.1:0", "enabled": False},
        ]
        response = http.post("/populate", json=items)
        assert response.status_code == 201
        first = {p["name"]: p for p in response.json()["proxies"]}
        assert first["one"]["enabled"] is True
        assert first["two"]["enabled"] is False
        http.post("/proxies/one/toxics", json={"type": "latency"})

        # Same addresses (port 0 matches the port it got): kept, toxics and all.
        again = http.post("/populate", json=items[:1]).json()["proxies"][0]
        assert again["listen"] == first["one"]["listen"]
        assert len(again["toxics"]) == 1

        # A new upstream replaces the proxy.
        moved = [{"name": "one", "upstream": other.address, "listen": first["one"]["listen"]}]
        replaced = http.post("/populate", json=moved).json()["proxies"][0]
        assert replaced["upstream"] == other.address
        assert replaced["listen"] == first["one"]["listen"]
        assert replaced["toxics"] == []


def test_populate_errors_change_nothing(http: httpx.Client, echo: EchoServer) -> None:
    items = [
        {"name": "fine", "upstream": echo.address, "listen": "127.0.0.1:0"},
        {"name": "broken", "listen": "127.0.0.1:0"},
    ]
    response = http.post("/populate", json=items)
    assert response.status_code == 400
    assert response.json() == {
        "error": "missing required field: upstream at proxy 2",
        "status": 400,
        "proxies": None,
    }
    assert http.get("/proxies").json() == {}
    assert http.post("/populate", json={"name": "x"}).status_code == 400


def test_populate_rolls_back_when_a_port_is_taken(http: httpx.Client, echo: EchoServer) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        items = [
            {"name": "fine", "upstream": echo.address, "listen": "127.0.0.1:0"},
            {"name": "clash", "upstream": echo.address, "listen": f"127.0.0.1:{busy}"},
        ]
        response = http.post("/populate", json=items)
        assert response.status_code == 500
        assert "in use" in response.json()["error"]
    assert http.get("/proxies").json() == {}


def test_keep_alive_and_chunked_bodies(server: ServerThread, echo: EchoServer) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    body = b'{"name": "c", "upstream": "' + echo.address.encode() + b'", "listen": "127.0.0.1:0"}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
        )
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201 Created\r\n")
    assert answer.count(b"HTTP/1.1 ") == 2
    assert b"HTTP/1.1 200 OK\r\n" in answer
