"""Our engine against bare asyncio and PocketFlow 0.0.3 on the same three workloads.

- W1: a fan-out of N branches that each ``wait 0.05`` s, then a join (N = 100, 1000, 10,000);
- W2: a fan-out of N no-op steps (N = 1000, 10,000);
- W3: a chain of 1000 no-op steps.

Each runs through (a) bare asyncio (``gather``; for W3 a plain ``await`` chain and one Task a
step), (b) PocketFlow (``AsyncParallelBatchNode`` in an ``AsyncFlow`` for the fan-outs, a
chain of ``AsyncNode`` linked with ``>>`` for W3: its own idioms), (c) our engine
(``engine.load`` → ``engine.plan`` → ``Runner.run``) with a sink that keeps every event.
PocketFlow records nothing; ours records every step's start and end.

What is timed is the run: building the PocketFlow graph or our plan is not (both are built
once and run many times: a warm-up run first), and the heap is collected before each. Per
workload the implementations run interleaved in rounds (the machine's noise hits all alike);
each figure is the median over ``--rounds``.
Printed: µs per branch or step beyond the work itself (W1 less its 0.05 s), the ratios
ours/PocketFlow and ours/asyncio, and the per-step cost at 10k against 1k (flat is 1.0).

Run: ``python bench/compare.py`` (``--quick``: a seconds-long smoke run; ``--uvloop``: the
same under uvloop's event loop).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine  # noqa: E402

SLEEP = 0.05  # W1's work per branch


class KeepingSink:
    """Keeps every event (a list append): what recording costs at the least."""

    def __init__(self):
        self.events: list = []
        self.emit = self.events.append


# -- (a) bare asyncio -------------------------------------------------------------------------

async def _sleeper(i):
    await asyncio.sleep(SLEEP)
    return i


async def _noop(i=None):
    return i


def asyncio_fanout(n: int, seconds: float):
    async def run():
        results = await asyncio.gather(*(_sleeper(i) if seconds else _noop(i) for i in range(n)))
        return {f"b{i}": r for i, r in enumerate(results)} if seconds else results  # W1's join
    return run


def asyncio_chain(n: int):
    async def run():
        value = None
        for _ in range(n):
            value = await _noop(value)
        return value
    return run


def asyncio_chain_tasks(n: int):
    async def run():
        loop = asyncio.get_running_loop()
        value = None
        for _ in range(n):
            value = await loop.create_task(_noop(value))
        return value
    return run


# -- (b) PocketFlow ---------------------------------------------------------------------------

def pocketflow_fanout(n: int, seconds: float):
    from pocketflow import AsyncFlow, AsyncNode, AsyncParallelBatchNode

    class Fan(AsyncParallelBatchNode):
        async def prep_async(self, shared):
            return range(n)

        async def exec_async(self, item):
            if seconds:
                await asyncio.sleep(seconds)
            return item

        async def post_async(self, shared, prep_res, exec_res):
            shared["fan"] = exec_res

    class Join(AsyncNode):
        async def prep_async(self, shared):
            return shared["fan"]

        async def exec_async(self, results):
            return {f"b{i}": r for i, r in enumerate(results)}

        async def post_async(self, shared, prep_res, exec_res):
            shared["join"] = exec_res

    fan = Fan()
    if seconds:  # W1's join
        fan >> Join()
    flow = AsyncFlow(start=fan)

    async def run():
        shared: dict = {}
        await flow.run_async(shared)
        return shared
    return run


def pocketflow_chain(n: int):
    from pocketflow import AsyncFlow, AsyncNode

    class Step(AsyncNode):
        async def prep_async(self, shared):
            return shared.get("last")

        async def exec_async(self, prep_res):
            return prep_res

        async def post_async(self, shared, prep_res, exec_res):
            shared["last"] = exec_res

    first = node = Step()
    for _ in range(n - 1):
        node = node >> Step()
    flow = AsyncFlow(start=first)

    async def run():
        await flow.run_async({})
    return run


# -- (c) ours ---------------------------------------------------------------------------------

def _plan(doc: dict):
    return engine.plan(engine.load(json.dumps(doc), "compare.json"))


def ours_fanout(n: int, seconds: float):
    steps = [{"id": "fan", "parallel": [{"id": f"b{i}", "uses": "wait", "with": {"seconds": seconds}}
                                        for i in range(n)]}]
    if seconds:
        steps.append({"id": "join", "uses": "merge", "with": {"values": ["${fan}"]}})
    return _ours(_plan({"name": "fanout", "steps": steps}))


def ours_chain(n: int):
    return _ours(_plan({"name": "chain", "steps": [{"id": f"s{i}", "uses": "wait", "with": {"seconds": 0}}
                                                   for i in range(n)]}))


def _ours(plan):
    runner = engine.Runner()

    async def run():
        sink = KeepingSink()
        result = await runner.run(plan, {}, sink)
        assert result.status == "succeeded", result.error
        assert sink.events[-1].type == "run.finished"
        return sink
    return run


# -- the table --------------------------------------------------------------------------------

def workloads(quick: bool) -> list:
    """``(name, n, work seconds, {implementation: factory})``; a factory builds, its result runs."""
    w1 = [100] if quick else [100, 1000, 10000]
    w2 = [1000] if quick else [1000, 10000]
    w3 = 100 if quick else 1000
    rows = []
    for n in w1:
        rows.append(("W1 fan-out × wait 0.05 + join", n, SLEEP, {
            "asyncio": lambda n=n: asyncio_fanout(n, SLEEP), "pocketflow": lambda n=n: pocketflow_fanout(n, SLEEP),
            "ours": lambda n=n: ours_fanout(n, SLEEP)}))
    for n in w2:
        rows.append(("W2 fan-out of no-op steps", n, 0.0, {
            "asyncio": lambda n=n: asyncio_fanout(n, 0), "pocketflow": lambda n=n: pocketflow_fanout(n, 0),
            "ours": lambda n=n: ours_fanout(n, 0)}))
    rows.append(("W3 chain of no-op steps", w3, 0.0, {
        "asyncio": lambda: asyncio_chain(w3), "asyncio+task": lambda: asyncio_chain_tasks(w3),
        "pocketflow": lambda: pocketflow_chain(w3), "ours": lambda: ours_chain(w3)}))
    return rows


async def timed(run) -> float:
    """Seconds for one call of ``run`` (the heap collected before, what it kept dropped after)."""
    gc.collect()
    start = time.perf_counter()
    kept = await run()
    wall = time.perf_counter() - start
    del kept
    return wall


async def measure(rows: list, rounds: int) -> dict:
    """``{(row index, implementation): [seconds per round]}``: per workload, each implementation
    built once and run once to warm up, then the implementations interleaved round by round;
    dropped before the next workload (one workload's plan does not weigh on another's runs)."""
    walls: dict = {}
    for index, (_, _, _, impls) in enumerate(rows):
        runs = {name: factory() for name, factory in impls.items()}
        for run in runs.values():
            await timed(run)
        for _ in range(rounds):
            for name, run in runs.items():
                walls.setdefault((index, name), []).append(await timed(run))
        del runs
    return walls


def report(rows: list, walls: dict, rounds: int, stat=statistics.median, stat_name: str = "median") -> None:
    print(f"µs per branch or step beyond the work itself, {stat_name} of {rounds} interleaved round(s)")
    names = ["asyncio", "asyncio+task", "pocketflow", "ours"]
    print(f"{'workload':<32} {'N':>6} " + " ".join(f"{n:>12}" for n in names) + f" {'ours/pf':>8} {'ours/aio':>9}")
    per_step: dict = {}
    for index, (label, n, work, impls) in enumerate(rows):
        cost = {name: (stat(walls[(index, name)]) - work) / n * 1e6 for name in impls}
        per_step[(label, n)] = cost
        cells = " ".join(f"{cost[name]:12.2f}" if name in cost else f"{'-':>12}" for name in names)
        print(f"{label:<32} {n:>6} {cells} {_ratio(cost['ours'], cost['pocketflow']):>8}"
              f" {_ratio(cost['ours'], cost['asyncio']):>9}")
    print("flatness: per-step cost at the largest N over that at 1000 (1.00 is flat)")
    for label in dict.fromkeys(label for label, _, _, _ in rows):
        sizes = sorted(n for lab, n in per_step if lab == label)
        if 1000 in sizes and sizes[-1] > 1000:
            small, big = per_step[(label, 1000)], per_step[(label, sizes[-1])]
            cells = " ".join(f"{name} {_ratio(big[name], small[name])}" for name in names if name in big)
            print(f"  {label} {sizes[-1]} vs 1000: {cells}")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: a smoke run")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3, 1 with --quick)")
    parser.add_argument("--uvloop", action="store_true", help="run under uvloop's event loop")
    parser.add_argument("--only", default=None, help="only the workloads whose label starts with this (W1, W2, W3)")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    rows = workloads(args.quick)
    if args.only:
        rows = [row for row in rows if row[0].startswith(args.only)]
    factory = None
    if args.uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    import pocketflow  # noqa: F401 - a bench-only dependency: fail here, before anything runs

    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, loop: {'uvloop' if args.uvloop else 'asyncio'}")
    with asyncio.Runner(loop_factory=factory) as runner:
        walls = runner.run(measure(rows, rounds))
    report(rows, walls, rounds)
    if rounds > 1:  # on a shared machine the least disturbed round says more of the code itself
        print()
        report(rows, walls, rounds, min, "minimum")


if __name__ == "__main__":
    main()
