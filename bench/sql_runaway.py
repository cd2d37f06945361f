"""How soon a runaway SQLite query gives its core back after its step timed out or was cancelled.

Run: ``python bench/sql_runaway.py``. A recursive CTE that never ends runs in a step with
``timeout: 0.5``; a sampler reads the CPU clock of the pool thread running it every
millisecond, and the figure is the time from the step's deadline (or the cancel) to the last
moment that thread used the CPU.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine  # noqa: E402

RUNAWAY = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) FROM r"


class Sampler(threading.Thread):
    """Watches the CPU clocks of the other threads; ``last_busy`` is when one last ran."""

    def __init__(self):
        super().__init__(daemon=True)
        self.last_busy = 0.0
        self.done = False

    def run(self):
        clocks: dict[int, float] = {}
        while not self.done:
            for thread in threading.enumerate():
                if thread is self or thread is threading.main_thread():
                    continue
                try:
                    used = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
                except (OSError, TypeError, ProcessLookupError):
                    continue
                if used - clocks.get(thread.ident, used) > 0.0002:  # > 20% of the last millisecond
                    self.last_busy = time.perf_counter()
                clocks[thread.ident] = used
            time.sleep(0.001)


async def once(settings, cancel: bool) -> float:
    step = {"id": "spin", "uses": "sql", "with": {"connection": "db", "query": RUNAWAY}}
    if not cancel:
        step["timeout"] = 0.5
    text = "name: runaway\nsteps:\n  - " + json.dumps(step) + "\n"
    runner = engine.Runner(settings=settings)
    sampler = Sampler()
    sampler.start()
    plan = engine.plan(engine.load(text, "bench.yaml", settings=settings))
    start = time.perf_counter()
    task = asyncio.create_task(runner.run(plan, {}, engine.NullSink(), run_id="spin"))
    await asyncio.sleep(0.5)
    if cancel:
        runner.cancel("spin")
    stopped_at = start + 0.5
    await task
    await asyncio.sleep(0.5)  # long enough to see a thread that goes on
    sampler.done = True
    sampler.join()
    runner.close()
    if sampler.last_busy > time.perf_counter() - 0.05:
        raise SystemExit("the runaway query was still running 0.5 s after its step ended")
    return sampler.last_busy - stopped_at


async def main() -> None:
    path = os.path.join(tempfile.mkdtemp(), "db.sqlite3")
    sqlite3.connect(path).close()
    settings = engine.EngineSettings(extra={"sql_connections": {"db": {"url": f"sqlite:///{path}"}}})
    print(f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs")
    for cancel in (False, True):
        figures = [await once(settings, cancel) for _ in range(5)]
        what = "cancelled run" if cancel else "step timeout 0.5 s"
        print(f"runaway SQLite query, {what}: its core is free {max(figures) * 1000:.1f} ms after the "
              f"{'cancel' if cancel else 'deadline'} (worst of 5; all: "
              + ", ".join(f"{f * 1000:.1f}" for f in figures) + " ms)")


if __name__ == "__main__":
    asyncio.run(main())
