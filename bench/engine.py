"""Engine benchmarks: fan-out overhead, per-step cost, a big foreach, event volume, CPU-bound
``python`` branches on every core, and how soon a timed-out runaway step's CPU is free.

Run: ``python bench/engine.py`` (add ``--quick`` for a short smoke run). Every figure is
measured in this run, next to its baseline (bare asyncio.gather) measured the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine  # noqa: E402
from tests.procs import cpu_ticks, descendants  # noqa: E402


class CountingSink:
    """Counts events and the time spent handing them over."""

    def __init__(self):
        self.count = 0
        self.by_type: dict[str, int] = {}

    def emit(self, event) -> None:
        self.count += 1
        self.by_type[event.type] = self.by_type.get(event.type, 0) + 1


def build(doc: dict):
    text = json.dumps(doc)
    return engine.plan(engine.load(text, "bench.json"))


async def timed_run(plan, sink=None, runner=None):
    runner = runner or engine.Runner()
    gc.collect(0)
    start = time.perf_counter()
    result = await runner.run(plan, {}, sink or CountingSink())
    wall = time.perf_counter() - start
    runner.close()
    assert result.status == "succeeded", result.error
    return wall


def fan_out(n: int, seconds: float = 0.05):
    return build({"name": "fanout", "steps": [
        {"id": "fan", "parallel": [{"id": f"b{i}", "uses": "wait", "with": {"seconds": seconds}} for i in range(n)]},
        {"id": "join", "uses": "merge", "with": {"values": ["${fan}"]}},
    ]})


async def gather_baseline(n: int, seconds: float) -> float:
    async def branch():
        await asyncio.sleep(seconds)

    gc.collect(0)
    start = time.perf_counter()
    await asyncio.gather(*(branch() for _ in range(n)))
    return time.perf_counter() - start


class GcClock:
    """Time spent in the garbage collector while active (gc.callbacks)."""

    def __init__(self):
        self.spent = 0.0
        self._start = 0.0

    def __call__(self, phase, info):
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.spent += time.perf_counter() - self._start

    async def measure(self, coro):
        self.spent = 0.0
        gc.callbacks.append(self)
        try:
            wall = await coro
        finally:
            gc.callbacks.remove(self)
        return wall, self.spent


async def case_fan_out(sizes):
    print("1. fan-out of N branches (wait 0.05 s each) then a join; best of 3, with the garbage")
    print("   collector's share of each (it costs the gather baseline as much: the heap is the same)")
    print(f"   {'N':>6}  {'wall s':>8}  {'overhead/branch':>16}  {'of which GC':>12}  {'gather baseline':>16}"
          f"  {'of which GC':>12}")
    clock = GcClock()
    for n in sizes:
        plan = fan_out(n)
        wall, gc_s = min([await clock.measure(timed_run(plan)) for _ in range(3)])
        base, base_gc = min([await clock.measure(gather_baseline(n, 0.05)) for _ in range(3)])
        print(f"   {n:>6}  {wall:8.3f}  {(wall - 0.05) / n * 1e6:13.1f} µs  {gc_s / n * 1e6:9.1f} µs"
              f"  {(base - 0.05) / n * 1e6:13.1f} µs  {base_gc / n * 1e6:9.1f} µs")


async def case_noop(n_parallel: int, n_chain: int):
    print("2. no-op steps (wait 0): µs per step")
    par = build({"name": "noop-par", "steps": [{"id": "p", "parallel": [
        {"id": f"s{i}", "uses": "wait", "with": {"seconds": 0}} for i in range(n_parallel)]}]})
    chain = build({"name": "noop-chain", "steps": [
        {"id": f"s{i}", "uses": "wait", "with": {"seconds": 0}} for i in range(n_chain)]})
    wall_par = min([await timed_run(par) for _ in range(3)])
    wall_chain = min([await timed_run(chain) for _ in range(3)])

    async def noop():
        return None

    async def gather_noop():
        gc.collect()
        start = time.perf_counter()
        await asyncio.gather(*(noop() for _ in range(n_parallel)))
        return time.perf_counter() - start

    base = min([await gather_noop() for _ in range(3)])
    print(f"   {n_parallel} in a parallel block: {wall_par / n_parallel * 1e6:.1f} µs/step"
          f"   (bare asyncio.gather of the same no-op coroutines: {base / n_parallel * 1e6:.1f} µs)")
    print(f"   {n_chain} in a chain:           {wall_chain / n_chain * 1e6:.1f} µs/step")


class Numbers(engine.Action):
    """``numbers``: the list 0 … n - 1 (a bench action): a foreach's items as an earlier step's
    output, as in a real workflow, rather than a literal list in the document (whose load and
    plan are the loader's cost, measured by bench/load.py)."""

    name = "numbers"

    class Params(engine.Params):
        n: int

    async def run(self, params, ctx):
        return list(range(params.n))


def big_foreach(items: int, concurrency: int, seconds: float, budgets=None):
    """A plan, its runner and the RSS after planning: ``numbers`` then a foreach of ``wait``."""
    registry = engine.default_registry()
    registry.register(Numbers)
    settings = engine.EngineSettings(budgets=budgets) if budgets else engine.EngineSettings()
    text = json.dumps({"name": "big-foreach", "steps": [
        {"id": "src", "uses": "numbers", "with": {"n": items}},
        {"id": "each", "foreach": "${src}", "concurrency": concurrency,
         "steps": [{"id": "w", "uses": "wait", "with": {"seconds": seconds}}]},
    ]})
    plan = engine.plan(engine.load(text, "bench.json", registry=registry, settings=settings), registry)
    return plan, engine.Runner(registry, settings), rss_now()


def rss_now() -> float:
    """The process's resident memory now, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def case_foreach(items: int, concurrency: int, seconds: float) -> None:
    """Runs in a child process so its peak RSS is its own."""
    out = subprocess.run([sys.executable, __file__, "--foreach-child", str(items), str(concurrency), str(seconds)],
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    ideal = items / concurrency * seconds
    print(f"3. foreach over {items} items (an earlier step's output), wait {seconds} s, concurrency {concurrency},"
          f" every event's seq kept by the sink")
    print(f"   wall {data['wall']:.2f} s against ideal {ideal:.2f} s: efficiency {ideal / data['wall'] * 100:.1f}%;"
          f" peak RSS {data['rss_mb']:.0f} MB (after import and plan: {data['planned_mb']:.0f} MB)")
    print(f"4. events: {data['events']} in {data['wall']:.2f} s = {data['events'] / data['wall']:,.0f} events/s;"
          f" time inside sink.emit {data['sink_s'] * 1000:.0f} ms = {data['sink_s'] / data['wall'] * 100:.2f}% of"
          f" the run (a list-appending sink); by type {data['by_type']}")


def foreach_child(items: int, concurrency: int, seconds: float) -> None:
    plan, runner, planned = big_foreach(items, concurrency, seconds)

    class TimedSink(CountingSink):
        def __init__(self):
            super().__init__()
            self.spent = 0.0
            self.kept = []

        def emit(self, event):
            t = time.perf_counter()
            super().emit(event)
            self.kept.append(event.seq)
            self.spent += time.perf_counter() - t

    sink = TimedSink()
    wall = asyncio.run(timed_run(plan, sink, runner))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "rss_mb": rss, "planned_mb": planned, "events": sink.count, "sink_s": sink.spent,
                      "by_type": sink.by_type}))


def case_million(items: int) -> None:
    """A foreach of ``items`` no-op steps whose events go to a counting sink (nothing kept): the
    run's memory must stay flat; in a child process, as case 3."""
    out = subprocess.run([sys.executable, __file__, "--million-child", str(items)],
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    marks = ", ".join(f"{done:,} items {mb:.0f} MB" for done, mb in data["marks"])
    print(f"7. foreach of {items:,} no-op steps, events counted and dropped: wall {data['wall']:.1f} s"
          f" ({data['wall'] / items * 1e6:.1f} µs an item); RSS after plan {data['planned_mb']:.0f} MB, with the"
          f" items' list made {data['listed_mb']:.0f} MB, then at {marks}; peak {data['rss_mb']:.0f} MB")


def million_child(items: int) -> None:
    budgets = engine.Budgets(items_per_block=items, items_per_run=items, steps=items + 10)
    plan, runner, planned = big_foreach(items, 1000, 0, budgets)
    marks = {items // 10, items // 2, items}
    first: dict = {}  # items done -> RSS then
    listed: list = []

    class MarkingSink(CountingSink):
        def emit(self, event):
            super().emit(event)
            if event.type == "foreach.progress" and event.done in marks and event.done not in first:
                first[event.done] = rss_now()
            elif event.type == "step.succeeded" and event.path == "src":
                listed.append(rss_now())

    wall = asyncio.run(timed_run(plan, MarkingSink(), runner))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "rss_mb": rss, "planned_mb": planned, "listed_mb": listed[0] if listed else 0,
                      "marks": sorted(first.items())}))


CPU_SETTINGS = engine.EngineSettings(python_allowed=("examples.functions.*",))


async def case_cpu_branches(limit: int) -> None:
    """4 CPU-bound ``python`` steps in a parallel block against the same 4 in sequence."""
    step = {"uses": "python", "with": {"function": "examples.functions:count_primes", "args": [limit]}}
    parallel = engine.plan(engine.load(json.dumps({"name": "cpu-par", "steps": [
        {"id": "p", "parallel": [{"id": f"b{i}", **step} for i in range(4)]}]}), "b.json", settings=CPU_SETTINGS))
    sequence = engine.plan(engine.load(json.dumps({"name": "cpu-seq", "steps": [
        {"id": f"s{i}", **step} for i in range(4)]}), "b.json", settings=CPU_SETTINGS))
    runner = engine.Runner(settings=CPU_SETTINGS)

    async def timed(plan):
        start = time.perf_counter()
        result = await runner.run(plan, {})
        assert result.status == "succeeded", result.error
        return time.perf_counter() - start

    await timed(engine.plan(engine.load(json.dumps({"name": "warm", "steps": [
        {"id": "w", "uses": "python", "with": {"function": "examples.functions:count_primes", "args": [10]}}]}),
        "b.json", settings=CPU_SETTINGS)))  # the pool's start-up is not what is measured
    seq = min([await timed(sequence) for _ in range(2)])
    before = _workers_cpu()
    par = await timed(parallel)
    cores = (_workers_cpu() - before) / par  # how many cores the workers had, on average
    par = min(par, await timed(parallel))
    print(f"5. 4 CPU-bound python branches (count_primes({limit})), {CPU_SETTINGS.python_workers} worker processes:"
          f" in sequence {seq:.2f} s, in a parallel block {par:.2f} s: speed-up {seq / par:.2f}x"
          f"; the workers kept {cores:.2f} cores busy (load average {os.getloadavg()[0]:.1f}: other work on the"
          f" machine shares the cores)")


def _workers_cpu() -> float:
    """CPU seconds used so far by this process's descendants that are still running (the workers)."""
    ticks = [cpu_ticks(pid) for pid in descendants(os.getpid())]
    return sum(t for t in ticks if t is not None) / os.sysconf("SC_CLK_TCK")


async def case_runaway(timeout: float = 0.5) -> None:
    """A runaway step (count_primes of 10^12) with a timeout: seconds from the timeout until the
    worker that ran it uses no more CPU (it is killed; /proc says when it is gone)."""
    plan = engine.plan(engine.load(json.dumps({"name": "runaway", "steps": [
        {"id": "r", "uses": "python", "timeout": timeout,
         "with": {"function": "examples.functions:count_primes", "args": [10 ** 12]}}]}), "b.json",
        settings=CPU_SETTINGS))
    task = asyncio.create_task(engine.Runner(settings=CPU_SETTINGS).run(plan, {}))
    await asyncio.sleep(timeout * 0.6)
    before = {pid: cpu_ticks(pid) for pid in descendants(os.getpid())}
    await asyncio.sleep(timeout * 0.2)
    busy = [pid for pid, ticks in before.items() if ticks is not None and (cpu_ticks(pid) or 0) > ticks]
    result = await task
    timed_out = time.perf_counter()
    assert result.status == "failed" and "timed out" in result.error, result.error
    while any(cpu_ticks(pid) is not None for pid in busy):
        await asyncio.sleep(0.002)
    print(f"6. a runaway python step timed out after {timeout} s: its worker process was gone"
          f" {time.perf_counter() - timed_out:.3f} s later (CPU free; the pool starts a new one)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--python", action="store_true", help="only the python worker processes' figures (5, 6)")
    parser.add_argument("--foreach-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--million-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help="only the big foreach figures (3, 4, 7)")
    args = parser.parse_args()
    if args.foreach_child:
        items, conc, secs = args.foreach_child
        foreach_child(int(items), int(conc), float(secs))
        return
    if args.million_child:
        million_child(args.million_child)
        return
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    if args.python:
        asyncio.run(case_cpu_branches(300000))
        asyncio.run(case_runaway())
    elif args.memory:
        case_foreach(100000, 1000, 0.1)
        case_million(1_000_000)
    elif args.quick:
        asyncio.run(case_fan_out([10, 100]))
        asyncio.run(case_noop(200, 100))
        case_foreach(2000, 100, 0.01)
        asyncio.run(case_cpu_branches(60000))
        asyncio.run(case_runaway())
        case_million(20_000)
    else:
        asyncio.run(case_fan_out([10, 100, 1000, 10000]))
        asyncio.run(case_noop(10000, 1000))
        case_foreach(100000, 1000, 0.1)
        asyncio.run(case_cpu_branches(300000))
        asyncio.run(case_runaway())
        case_million(1_000_000)


if __name__ == "__main__":
    main()
