"""Action benchmarks: http throughput, parallel sql, llm calls against the fake server.

Run: ``python bench/actions.py [http|sql|llm]``. Every figure is measured in this run next to its baseline.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx  # noqa: E402

import engine  # noqa: E402
from engine.actions import sql as sql_action  # noqa: E402
from tests.engine.actions.servers import LocalServer  # noqa: E402


async def run(doc: dict, settings: engine.EngineSettings) -> tuple[float, engine.RunResult]:
    workflow = engine.load(json.dumps(doc), "bench.json", settings=settings)
    runner = engine.Runner(settings=settings)
    start = time.perf_counter()
    result = await runner.run(engine.plan(workflow), {}, engine.NullSink())
    wall = time.perf_counter() - start
    runner.close()
    assert result.status == "succeeded", result.error
    return wall, result


async def bench_http(n: int = 1000, concurrency: int = 100) -> None:
    server = LocalServer()
    settings = engine.EngineSettings(extra={"http_allow": ("127.0.0.1",), "http_host_concurrency": concurrency})
    doc = {"name": "http-bench", "steps": [{"id": "each", "foreach": list(range(n)), "concurrency": concurrency,
                                            "steps": [{"id": "get", "uses": "http",
                                                       "with": {"url": f"{server.base}/item/${{item}}"}}]}]}
    async def baseline() -> float:
        sem = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200, max_keepalive_connections=50)) as c:
            async def one(i):
                async with sem:
                    r = await c.get(f"{server.base}/item/{i}")
                    return r.json()
            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            return time.perf_counter() - start

    first = await baseline()
    wall = min([(await run(doc, settings))[0] for _ in range(2)])
    base = min(first, await baseline())
    server.close()
    print(f"1. {n} http GETs to a local server (foreach, concurrency {concurrency}): {n / wall:,.0f} req/s; "
          f"httpx alone with gather + semaphore: {n / base:,.0f} req/s = {base / wall:.2f}x of it (best of 2 each)")


async def bench_sql(queries: int = 8, seconds: float = 0.05) -> None:
    from sqlalchemy import create_engine, event

    path = os.path.join(tempfile.mkdtemp(), "slow.sqlite3")
    url = f"sqlite:///{path}"
    slow = create_engine(url, connect_args={"check_same_thread": False}, pool_size=16)

    @event.listens_for(slow, "connect")
    def _register(dbapi_conn, _record):  # a slow function, as a slow query would be (the GIL is released)
        dbapi_conn.create_function("pause", 1, lambda s: time.sleep(s) or s)

    sql_action._ENGINES[(url, True)] = slow
    settings = engine.EngineSettings(threads=32, extra={"sql_connections": {"slow": {"url": url, "writable": True}}})
    step = lambda i: {"id": f"q{i}", "uses": "sql", "with": {"connection": "slow",  # noqa: E731
                                                           "query": f"SELECT pause({seconds}) AS waited, {i} AS n"}}
    await run({"name": "warm", "steps": [step(0)]}, settings)
    par, _ = await run({"name": "par", "steps": [{"id": "p", "parallel": [step(i) for i in range(queries)]}]}, settings)
    seq, _ = await run({"name": "seq", "steps": [step(i) for i in range(queries)]}, settings)
    print(f"2. {queries} sql queries of {seconds * 1000:.0f} ms: parallel block {par:.3f} s, in sequence {seq:.3f} s"
          f" = {seq / par:.1f}x speed-up")


class FakeServer:
    """examples/fake_llm.py in its own process, as ``make run`` starts it (in a thread of this
    process it would share the GIL with the client and the engine)."""

    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.process = subprocess.Popen([sys.executable, os.path.join(root, "examples", "fake_llm.py"),
                                         str(self.port)], stdout=subprocess.PIPE, text=True)
        assert "fake LLM on" in self.process.stdout.readline()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def stats(self) -> dict:
        response = httpx.get(f"http://127.0.0.1:{self.port}/stats?reset")  # (an older server has none)
        return response.json() if response.status_code == 200 else {"beyond_delay_ms": float("nan"),
                                                                      "most_in_flight": 0, "connections": "?"}

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


async def _bare(url: str, calls: int, concurrency: int, client) -> float:
    """``calls`` chat completions with gather + a semaphore, no engine; ``client(i)`` makes call i."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i):
        async with sem:
            return await client(i)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    return time.perf_counter() - start


async def bench_llm(calls: int = 100, concurrency: int = 20, delay: float = 0.2, rounds: int = 3) -> None:
    """The engine's llm steps against the fake server, next to the same calls made with bare httpx
    and with the openai client alone (interleaved rounds, median): the split says whose time it is."""
    fake = FakeServer()
    try:
        await _bench_llm(fake, calls, concurrency, delay, rounds)
    finally:
        fake.close()  # (its process would outlive a failed bench)


async def _bench_llm(fake: FakeServer, calls: int, concurrency: int, delay: float, rounds: int) -> None:
    url = fake.url(f"slow/{delay:g}")
    settings = engine.EngineSettings(extra={"llm_connections": {"default": {"base_url": url, "model": "fake-1"}}})
    doc = {"name": "llm-bench", "steps": [{"id": "each", "foreach": list(range(calls)), "concurrency": concurrency,
                                           "steps": [{"id": "ask", "uses": "llm",
                                                      "with": {"prompt": "Summarize item ${item}"}}]}]}
    cold, result = await run(doc, settings)  # the first in this process: imports and first connections
    cold_connections = fake.stats().get("connections", "?")
    ideal = -(-calls // concurrency) * delay
    body = lambda i: {"model": "fake-1", "messages": [{"role": "user", "content": f"Summarize item {i}"}]}  # noqa: E731
    import openai

    # both kept for the whole bench, as the engine keeps its client between runs
    bare_client = httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency))
    openai_client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0)

    async def with_httpx() -> float:
        return await _bare(url, calls, concurrency,
                           lambda i: bare_client.post(f"{url}/chat/completions", json=body(i)))

    async def with_openai() -> float:
        return await _bare(url, calls, concurrency, lambda i: openai_client.chat.completions.create(**body(i)))

    async def with_engine() -> float:
        return (await run(doc, settings))[0]

    await with_httpx(), await with_openai()  # their first connections, untimed as the engine's were
    fake.stats()
    walls: dict[str, list[float]] = {"httpx": [], "openai": [], "engine": []}
    server: dict[str, list[float]] = {"httpx": [], "openai": [], "engine": []}
    cpus: dict[str, list[float]] = {"httpx": [], "openai": [], "engine": []}  # ms of this process's CPU a call
    most, conns = 0, "?"
    cases = [("httpx", with_httpx), ("openai", with_openai), ("engine", with_engine)]
    for r in range(rounds):
        for name, case in cases[r % 3:] + cases[:r % 3]:  # the order turns each round
            cpu = time.process_time()
            walls[name].append(await case())
            cpus[name].append((time.process_time() - cpu) / calls * 1000)
            stats = fake.stats()
            server[name].append(stats["beyond_delay_ms"])
            most = max(most, stats["most_in_flight"])
            if name == "engine":
                conns = stats.get("connections", "?")
    await bare_client.aclose()
    await openai_client.close()
    med = {name: statistics.median(v) for name, v in walls.items()}
    late = {name: statistics.median(v) for name, v in server.items()}
    cpu = {name: statistics.median(v) for name, v in cpus.items()}
    waves = -(-calls // concurrency)
    print(f"3. llm: {calls} calls, the server answering in {delay * 1000:.0f} ms, concurrency {concurrency}"
          f" (fake server in its own process; median of {rounds} interleaved rounds):\n"
          f"   engine wall {med['engine']:.3f} s (goal <= 1.2 s), ideal {ideal:.1f} s ({waves} waves of {delay:g} s);"
          f" first run in this process (imports, first connections) {cold:.3f} s\n"
          f"   split of the {med['engine'] - ideal:+.3f} s: server {late['engine']:.1f} ms a call beyond its delay"
          f" ({most} calls at once at most; connections opened: {cold_connections} by the first run,"
          f" {conns} by a later one); transport + server (bare httpx,"
          f" gather + semaphore) {med['httpx'] - ideal:+.3f} s; engine beyond bare httpx (steps, events, the action)"
          f" {med['engine'] - med['httpx']:+.3f} s\n"
          f"   walls: bare httpx {med['httpx']:.3f} s, the openai client alone {med['openai']:.3f} s; tokens counted "
          f"{result.summary['tokens']}\n"
          f"   CPU of this process a call (what {concurrency} calls in flight queue behind): engine {cpu['engine']:.3f} ms,"
          f" bare httpx {cpu['httpx']:.3f} ms, the openai client alone {cpu['openai']:.3f} ms")


async def main(only: str | None) -> None:
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if only in (None, "http"):
        await bench_http()
    if only in (None, "sql"):
        await bench_sql()
    if only in (None, "llm"):
        await bench_llm()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
