"""CPU-bound ``python`` steps in the process pool: 4 branches of ~1 s of pure Python each.

Run: ``python bench/pool.py [--rounds 3] [--seconds 1.0]``. Through the engine: a workflow with a
``parallel`` of 4 ``python`` steps against the same 4 steps in sequence, in interleaved rounds
(the order alternates), median of each. Next to it, measured the same way in the same run, the
bound the machine sets: the same 4 calls on a bare ``concurrent.futures.ProcessPoolExecutor``
with as many workers. Goal (issue 15): parallel ≤ 0.55x of sequence on 2 cores.

The machine is shared, so the CPU the workers really got is printed too (cores busy while the
parallel block ran, from /proc) with the load average: a ratio above 0.5 with fewer than 2
cores busy is the machine's, not the pool's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine  # noqa: E402
from examples.functions import count_primes  # noqa: E402
from tests.procs import cpu_ticks, descendants  # noqa: E402

SETTINGS = engine.EngineSettings(python_allowed=("examples.functions.*",))
BRANCHES = 4


def calibrate(seconds: float) -> int:
    """The ``count_primes`` limit that takes about ``seconds`` here (cost grows ~ limit^1.5)."""
    limit = 20000
    while True:
        start = time.perf_counter()
        count_primes(limit)
        took = time.perf_counter() - start
        if took > seconds / 8:
            return int(limit * (seconds / took) ** (1 / 1.5))
        limit *= 2


def workflow(name: str, limit: int, parallel: bool):
    step = {"uses": "python", "with": {"function": "examples.functions:count_primes", "args": [limit]}}
    steps = [{"id": f"b{i}", **step} for i in range(BRANCHES)]
    doc = {"name": name, "steps": [{"id": "p", "parallel": steps}] if parallel else steps}
    return engine.plan(engine.load(json.dumps(doc), "bench.json", settings=SETTINGS))


def workers_cpu() -> float:
    """CPU seconds used so far by this process's running descendants (the workers)."""
    ticks = [cpu_ticks(pid) for pid in descendants(os.getpid())]
    return sum(t for t in ticks if t is not None) / os.sysconf("SC_CLK_TCK")


async def main(rounds: int, seconds: float) -> None:
    workers = SETTINGS.python_workers
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {workers} worker processes")
    limit = calibrate(seconds)
    start = time.perf_counter()
    count_primes(limit)
    one = time.perf_counter() - start
    print(f"the work: count_primes({limit}) = {one:.2f} s in this process; {BRANCHES} branches of it")

    runner = engine.Runner(settings=SETTINGS)
    plans = {"sequence": workflow("seq", limit, False), "parallel": workflow("par", limit, True)}
    first = time.perf_counter()
    warm = await runner.run(workflow("warm", 10, False), {})  # starts the pool: not what is measured
    assert warm.status == "succeeded", warm.error
    print(f"pool start (first run, {workers} workers): {time.perf_counter() - first:.3f} s")

    trivial = workflow("trivial", 10, False)  # 4 steps of next to no work: the pool's own cost a call
    start = time.perf_counter()
    for _ in range(10):
        await runner.run(trivial, {})
    per_call = (time.perf_counter() - start) / (10 * BRANCHES)
    print(f"a python step of next to no work, warm pool: {per_call * 1000:.2f} ms (round trip, through the engine)")

    bare = ProcessPoolExecutor(workers)
    list(bare.map(count_primes, [10] * workers))  # its workers started too

    async def engine_run(kind: str) -> float:
        before, start = workers_cpu(), time.perf_counter()
        result = await runner.run(plans[kind], {})
        wall = time.perf_counter() - start
        assert result.status == "succeeded", result.error
        if kind == "parallel":
            cores.append((workers_cpu() - before) / wall)
        return wall

    async def bare_run(kind: str) -> float:
        start = time.perf_counter()
        if kind == "parallel":
            await asyncio.gather(*(asyncio.wrap_future(bare.submit(count_primes, limit)) for _ in range(BRANCHES)))
        else:
            for _ in range(BRANCHES):
                await asyncio.wrap_future(bare.submit(count_primes, limit))
        return time.perf_counter() - start

    walls: dict[tuple[str, str], list[float]] = {}
    cores: list[float] = []
    for r in range(rounds):
        order = ("sequence", "parallel") if r % 2 == 0 else ("parallel", "sequence")
        for how, run in (("engine", engine_run), ("bare", bare_run)):
            for kind in order:
                walls.setdefault((how, kind), []).append(await run(kind))
        ratios = [walls[(h, "parallel")][-1] / walls[(h, "sequence")][-1] for h in ("engine", "bare")]
        print(f"  round {r + 1}: engine {walls[('engine', 'sequence')][-1]:.2f} s -> "
              f"{walls[('engine', 'parallel')][-1]:.2f} s ({ratios[0]:.3f}x); bare pool "
              f"{walls[('bare', 'sequence')][-1]:.2f} s -> {walls[('bare', 'parallel')][-1]:.2f} s ({ratios[1]:.3f}x);"
              f" workers had {cores[-1]:.2f} cores; load {os.getloadavg()[0]:.1f}")
    bare.shutdown()
    runner.close()
    med = {key: statistics.median(value) for key, value in walls.items()}
    ratio = med[("engine", "parallel")] / med[("engine", "sequence")]
    bound = med[("bare", "parallel")] / med[("bare", "sequence")]
    print(f"{BRANCHES} CPU-bound python branches of ~{one:.2f} s, median of {rounds} interleaved rounds:\n"
          f"  engine: sequence {med[('engine', 'sequence')]:.2f} s, parallel {med[('engine', 'parallel')]:.2f} s"
          f" = {ratio:.3f}x (goal <= 0.55x)\n"
          f"  bare ProcessPoolExecutor({workers}), the machine's bound: {bound:.3f}x\n"
          f"  the workers had {statistics.median(cores):.2f} cores while the parallel block ran (median)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="the work of one branch")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.seconds))
