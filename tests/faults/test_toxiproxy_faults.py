"""The client and its faults: context managers that always undo themselves, typed errors,
and two servers driven at once."""

from __future__ import annotations

import pytest
from toxiproxy_helpers import EchoServer, connect, recv_exactly

from stackproof.toxiproxy import (
    ServerThread,
    ToxiproxyBadRequestError,
    ToxiproxyClient,
    ToxiproxyConflictError,
    ToxiproxyNotFoundError,
    disabled,
    toxic,
)


class Boom(Exception):
    pass


def test_toxic_is_there_inside_and_gone_after(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("p", echo.address)
    with client.toxic(proxy, "latency", attributes={"latency": 5}, stream="upstream") as made:
        assert made.name == "latency_upstream"
        assert made.attributes == {"latency": 5, "jitter": 0}
        assert [t.name for t in client.toxics(proxy)] == ["latency_upstream"]
    assert client.toxics(proxy) == []


@pytest.mark.parametrize("raised", [Boom, KeyboardInterrupt])
def test_toxic_is_removed_when_the_block_fails(
    client: ToxiproxyClient, echo: EchoServer, raised: type[BaseException]
) -> None:
    proxy = client.create_proxy("p", echo.address)
    with pytest.raises(raised), toxic(client, proxy, "timeout", name="stall"):
        raise raised
    assert client.toxics(proxy) == []


def test_toxic_undo_survives_a_second_interrupt(
    client: ToxiproxyClient, echo: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = client.create_proxy("p", echo.address)
    real_remove = client.remove_toxic
    calls = []

    def interrupted_once(proxy_name: str, name: str) -> None:
        calls.append(name)
        if len(calls) == 1:
            raise KeyboardInterrupt
        real_remove(proxy_name, name)

    monkeypatch.setattr(client, "remove_toxic", interrupted_once)
    with pytest.raises(KeyboardInterrupt), client.toxic("p", "latency"):
        pass
    assert calls == ["latency_downstream", "latency_downstream"]
    assert client.toxics(proxy) == []


def test_toxic_undo_tolerates_a_deleted_proxy(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("p", echo.address)
    with client.toxic(proxy, "latency"):
        client.delete_proxy(proxy)


def test_a_refused_toxic_removes_nothing(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("p", echo.address)
    client.add_toxic(proxy, "latency", attributes={"latency": 7})
    with pytest.raises(ToxiproxyConflictError), client.toxic(proxy, "latency"):
        pass
    assert client.get_toxic(proxy, "latency_downstream").attributes["latency"] == 7


@pytest.mark.parametrize("raised", [Boom, KeyboardInterrupt])
def test_disabled_is_reenabled_when_the_block_fails(
    client: ToxiproxyClient, echo: EchoServer, raised: type[BaseException]
) -> None:
    proxy = client.create_proxy("p", echo.address)
    seen = []

    def fail_while_down() -> None:
        with disabled(client, proxy) as down:
            seen.append(client.get_proxy(down).enabled)
            raise raised

    with pytest.raises(raised):
        fail_while_down()
    assert seen == [False]
    assert client.get_proxy(proxy).enabled is True
    with connect(proxy.port) as sock:
        sock.sendall(b"up")
        assert recv_exactly(sock, 2) == b"up"


def test_disabled_leaves_a_disabled_proxy_disabled(
    client: ToxiproxyClient, echo: EchoServer
) -> None:
    proxy = client.create_proxy("p", echo.address, enabled=False)
    with client.disabled(proxy):
        pass
    assert client.get_proxy(proxy).enabled is False


def test_errors_are_typed(client: ToxiproxyClient, echo: EchoServer) -> None:
    with pytest.raises(ToxiproxyNotFoundError, match="proxy not found"):
        client.get_proxy("nope")
    client.create_proxy("p", echo.address)
    with pytest.raises(ToxiproxyConflictError) as conflict:
        client.create_proxy("p", echo.address)
    assert conflict.value.status == 409
    with pytest.raises(ToxiproxyBadRequestError, match="invalid toxic type"):
        client.add_toxic("p", "gremlins")
    with pytest.raises(ToxiproxyNotFoundError, match="toxic not found"):
        client.remove_toxic("p", "nope")


def test_client_covers_the_api(client: ToxiproxyClient, echo: EchoServer) -> None:
    assert client.version().startswith("2.")
    made = client.populate([{"name": "a", "upstream": echo.address, "listen": "127.0.0.1:0"}])
    assert [p.name for p in made] == ["a"]
    assert made[0].port > 0
    assert made[0].host == "127.0.0.1"
    assert set(client.proxies()) == {"a"}
    client.add_toxic("a", "bandwidth", attributes={"rate": 100})
    updated = client.update_toxic(
        "a", "bandwidth_downstream", attributes={"rate": 50}, toxicity=0.5
    )
    assert (updated.attributes["rate"], updated.toxicity) == (50, 0.5)
    assert client.update_proxy("a", enabled=False).enabled is False
    client.reset()
    state = client.get_proxy("a")
    assert state.enabled is True
    assert state.toxics == ()
    client.delete_proxy("a")
    assert client.proxies() == {}


def test_two_servers_at_once(echo: EchoServer) -> None:
    with (
        ServerThread() as first,
        ServerThread() as second,
        ToxiproxyClient(first.url) as one,
        ToxiproxyClient(second.url) as two,
    ):
        a = one.create_proxy("db", echo.address)
        b = two.create_proxy("db", echo.address)
        assert a.port != b.port
        with one.toxic("db", "timeout"):
            assert [t.name for t in one.toxics("db")] == ["timeout_downstream"]
            assert two.toxics("db") == []
            with connect(b.port) as sock:
                sock.sendall(b"fine")
                assert recv_exactly(sock, 4) == b"fine"
