"""API compatibility: a third-party client, used as documented for the real Toxiproxy.

The client is PyPI `toxiproxy-python` 0.1.1 (douglas/toxiproxy-python). Its README defers
usage to its test suite, so these tests drive our server through the same calls that suite
makes against a real toxiproxy-server (create, destroy, disable/enable, get_proxy, populate,
add_toxic, get_toxic, destroy_toxic, reset, running, version), plus its error mapping
(409 -> ProxyExists, 404 -> NotFound, 400 -> InvalidToxic) and traffic through its proxies.
Its server address lives in class attributes, hence the fixture that points it at our
server and restores it afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy.utils import can_connect_to
from toxiproxy_helpers import EchoServer, connect, recv_exactly

from stackproof.toxiproxy import ServerThread


@pytest.fixture
def third_party(server: ServerThread) -> Iterator[toxiproxy.Toxiproxy]:
    api = toxiproxy.Toxiproxy()
    saved = (APIConsumer.host, APIConsumer.port)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    api.update_api_consumer(host, int(port))
    try:
        yield api
    finally:
        api.update_api_consumer(*saved)


def listen_port(proxy: toxiproxy.Proxy) -> int:
    return int(proxy.listen.rsplit(":", 1)[1])


def test_create_proxy(third_party: toxiproxy.Toxiproxy) -> None:
    proxy = third_party.create(
        upstream="localhost:3306", name="test_mysql_master", enabled=False, listen="127.0.0.1:0"
    )
    assert proxy.upstream == "localhost:3306"
    assert proxy.name == "test_mysql_master"
    assert proxy.enabled is False
    assert proxy.listen.startswith("127.0.0.1:")


def test_create_find_and_destroy(third_party: toxiproxy.Toxiproxy) -> None:
    third_party.create(upstream="localhost:3306", name="test_mysql_master")
    proxy = third_party.get_proxy("test_mysql_master")
    assert proxy.upstream == "localhost:3306"
    assert listen_port(proxy) > 0  # created with 127.0.0.1:0: the real port comes back
    assert third_party.destroy(proxy) is True
    assert third_party.get_proxy("test_mysql_master") is None
    assert third_party.destroy("invalid_proxy") is False


def test_disable_and_enable(third_party: toxiproxy.Toxiproxy, echo: EchoServer) -> None:
    proxy = third_party.create(upstream=echo.address, name="svc")
    port = listen_port(proxy)
    proxy.disable()
    assert proxy.enabled is False
    assert can_connect_to("127.0.0.1", port) is False
    proxy.enable()
    assert proxy.enabled is True
    assert can_connect_to("127.0.0.1", port) is True
    with proxy.down():
        assert can_connect_to("127.0.0.1", port) is False
    assert can_connect_to("127.0.0.1", port) is True


def test_same_name_is_refused(third_party: toxiproxy.Toxiproxy) -> None:
    third_party.create(upstream="localhost:3306", name="test_mysql_master")
    with pytest.raises(ProxyExists):
        third_party.create(upstream="localhost:3306", name="test_mysql_master")
    body = {"name": "test_mysql_master", "upstream": "localhost:3306", "listen": "127.0.0.1:0"}
    with pytest.raises(ProxyExists):  # the server's own 409, through the client's mapping
        APIConsumer.post("/proxies", json=body)


def test_running_and_version(third_party: toxiproxy.Toxiproxy) -> None:
    assert third_party.running() is True
    version = third_party.version()
    assert isinstance(version, bytes)
    assert b'"version"' in version


def test_populate(third_party: toxiproxy.Toxiproxy, echo: EchoServer) -> None:
    proxies = [
        {"name": "test_toxiproxy_populate1", "upstream": echo.address, "listen": "localhost:0"},
        {"name": "test_toxiproxy_populate2", "upstream": echo.address, "listen": "localhost:0"},
    ]
    for proxy in third_party.populate(proxies):
        host, port = proxy.listen.split(":")
        assert can_connect_to(host, int(port)) is True


def test_toxics_add_get_delete(third_party: toxiproxy.Toxiproxy, echo: EchoServer) -> None:
    proxy = third_party.create(upstream=echo.address, name="test_rubby_server")
    listen_addr = proxy.listen
    proxy.add_toxic(type="latency", attributes={"latency": 123})
    assert proxy.get_toxic("latency_downstream").attributes["latency"] == 123

    proxy.disable()
    proxy.enable()
    assert proxy.get_toxic("latency_downstream").attributes["latency"] == 123
    assert third_party.get_proxy("test_rubby_server").listen == listen_addr

    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_downstream")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")


def test_reset(third_party: toxiproxy.Toxiproxy, echo: EchoServer) -> None:
    proxy = third_party.create(upstream=echo.address, name="test_rubby_server")
    port = listen_port(proxy)
    proxy.disable()
    assert can_connect_to("127.0.0.1", port) is False
    proxy.add_toxic(type="latency", attributes={"latency": 123})
    assert third_party.reset() is True
    assert can_connect_to("127.0.0.1", port) is True
    assert proxy.toxics() == {}


def test_traffic_through_a_third_party_proxy(
    third_party: toxiproxy.Toxiproxy, echo: EchoServer
) -> None:
    proxy = third_party.create(upstream=echo.address, name="echo")
    with connect(listen_port(proxy)) as sock:
        proxy.add_toxic(type="latency", stream="upstream", attributes={"latency": 150})
        started = time.monotonic()
        sock.sendall(b"slow")
        assert recv_exactly(sock, 4) == b"slow"
        assert time.monotonic() - started >= 0.14
        proxy.destroy_toxic("latency_upstream")
