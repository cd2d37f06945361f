"""Action benchmarks: http throughput, parallel sql, llm calls against the fake server.

Run: ``python bench/actions.py``. Every figure is measured in this run next to its baseline.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx  # noqa: E402

import engine  # noqa: E402
from engine.actions import sql as sql_action  # noqa: E402
from examples.fake_llm import FakeLLM  # noqa: E402
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


async def bench_llm(calls: int = 100, concurrency: int = 20, delay: float = 0.2) -> None:
    fake = FakeLLM()
    settings = engine.EngineSettings(extra={"llm_connections": {
        "default": {"base_url": fake.url(f"slow/{delay}"), "model": "fake-1"}}})
    doc = {"name": "llm-bench", "steps": [{"id": "each", "foreach": list(range(calls)), "concurrency": concurrency,
                                           "steps": [{"id": "ask", "uses": "llm",
                                                      "with": {"prompt": "Summarize item ${item}"}}]}]}
    wall, result = await run(doc, settings)
    fake.close()
    ideal = calls / concurrency * delay
    print(f"3. {calls} llm calls answering in {delay * 1000:.0f} ms, concurrency {concurrency}: {wall:.2f} s against"
          f" the ideal {ideal:.1f} s; tokens {result.summary['tokens']}")


async def main() -> None:
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    await bench_http()
    await bench_sql()
    await bench_llm()


if __name__ == "__main__":
    asyncio.run(main())
