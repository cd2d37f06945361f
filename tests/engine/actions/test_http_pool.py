"""netguard's cheaper connection pool (used by the http and llm actions) makes httpcore's decisions:
a kept-alive connection the server has closed is never reused, connections are shared up to
the limit and queued beyond it, and the pinned transport still connects only where it was told."""

import asyncio

import httpcore
import httpx
import pytest

from engine.actions import httppool, netguard


class ClosingServer:
    """Answers each request with keep-alive, then closes the connection a moment later (as a
    server whose keep-alive timeout is short does); counts connections."""

    def __init__(self):
        self.connections = 0

    async def start(self):
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def serve(self, reader, writer):
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()


def client(limits=None) -> httpx.AsyncClient:
    limits = limits or httpx.Limits(max_connections=10, max_keepalive_connections=10)
    return httpx.AsyncClient(transport=httppool.pooled_transport(limits))


def test_the_pool_is_the_cheaper_one_on_the_tested_httpcore():
    transport = httppool.pooled_transport(httpx.Limits())
    assert httpcore.__version__ in httppool.POOL_TESTED
    assert type(transport._pool) is not httpcore.AsyncConnectionPool
    assert isinstance(transport._pool, httpcore.AsyncConnectionPool)


async def test_a_connection_the_server_closed_is_not_reused():
    server = await ClosingServer().start()
    async with client() as c:
        first = await c.get(f"http://127.0.0.1:{server.port}/")
        await asyncio.sleep(0.2)  # the server has closed it meanwhile
        second = await c.get(f"http://127.0.0.1:{server.port}/")
    server.server.close()
    assert first.text == second.text == "ok" and server.connections == 2


async def test_connections_are_shared_up_to_the_limit_and_requests_queue_beyond_it():
    from examples.fake_llm import FakeLLM

    fake = FakeLLM()
    url = f"{fake.url('slow/0.05')}/chat/completions"
    async with client(httpx.Limits(max_connections=4, max_keepalive_connections=4)) as c:
        for _ in range(3):
            replies = await asyncio.gather(*(c.post(url, json={"messages": []}) for _ in range(12)))
            assert all(r.status_code == 200 for r in replies)
    stats = fake.stats()
    fake.close()
    assert stats["calls"] == 36 and stats["most_in_flight"] == 4 and stats["connections"] == 4


async def test_the_pinned_transport_connects_only_to_the_checked_addresses():
    from examples.fake_llm import FakeLLM

    fake = FakeLLM()
    pins = {"model.test": ("127.0.0.1",)}
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    async with httpx.AsyncClient(transport=netguard.pinned_transport(pins, limits)) as c:
        reply = await c.post(f"http://model.test:{fake.port}/v1/chat/completions", json={"messages": []})
        with pytest.raises(httpx.ConnectError, match="was not checked before connecting"):
            await c.get(f"http://elsewhere.test:{fake.port}/")
    fake.close()
    assert reply.status_code == 200


async def test_a_dead_idle_connection_is_let_go_at_the_next_sweep_though_never_picked(monkeypatch):
    from examples.fake_llm import FakeLLM

    monkeypatch.setattr(httppool, "SWEEP", 0.1)
    server, fake = await ClosingServer().start(), FakeLLM()
    transport = httppool.pooled_transport(httpx.Limits(max_connections=10, max_keepalive_connections=10))
    async with httpx.AsyncClient(transport=transport) as c:
        await c.get(f"http://127.0.0.1:{server.port}/")
        await asyncio.sleep(0.3)  # that server closed its connection; the next sweep is due
        await c.post(f"{fake.base_url}/chat/completions", json={"messages": []})  # another origin
        origins = [conn._origin.port for conn in transport._pool._connections]
    server.server.close()
    fake.close()
    assert origins == [fake.port]
