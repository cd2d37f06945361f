"""CPU-bound ``python`` steps in the process pool: 4 branches of ~1 s of pure Python each.

Run: ``python bench/pool.py [--rounds 3] [--seconds 1.0]``. Through the engine: a workflow with a
``parallel`` of 4 ``python`` steps against the same 4 steps in sequence, in interleaved rounds
(the order alternates), median of each. Next to it, measured the same way in the same run, the
bound the machine sets: the same 4 calls on a bare ``concurrent.futures.ProcessPoolExecutor``
with as many workers. Goal (issue 15): parallel ≤ 0.55x of sequence on 2 cores.

The machine is shared, so the CPU the workers really got is printed too (cores busy, from
/proc/PID/schedstat) with the load average: a ratio above 0.5 with fewer than 2 cores busy is
the machine's, not the pool's (Linux's autogroup scheduling gives each session its share of the
cores however many processes it runs). So is the ratio the runs would have had on free cores:
each run's wall less the time its workers sat runnable, waiting for a core.
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
from tests.procs import descendants  # noqa: E402

SETTINGS = engine.EngineSettings(python_allowed=("examples.functions.*",))
BRANCHES = 4


def calibrate(seconds: float) -> int:
    """The ``count_primes`` limit that takes about ``seconds`` of CPU (not wall: the machine is
    shared) here; its cost grows ~ limit^1.5."""
    limit = 20000
    while True:
        start = time.thread_time()
        count_primes(limit)
        took = time.thread_time() - start
        if took > seconds / 8:
            return int(limit * (seconds / took) ** (1 / 1.5))
        limit *= 2


def workflow(name: str, limit: int, parallel: bool):
    step = {"uses": "python", "with": {"function": "examples.functions:count_primes", "args": [limit]}}
    steps = [{"id": f"b{i}", **step} for i in range(BRANCHES)]
    doc = {"name": name, "steps": [{"id": "p", "parallel": steps}] if parallel else steps}
    return engine.plan(engine.load(json.dumps(doc), "bench.json", settings=SETTINGS))


def schedstats() -> dict[int, tuple[float, float]]:
    """{pid: (seconds on a CPU, seconds runnable but waiting for one)} of this process's descendants
    (/proc/PID/schedstat)."""
    found = {}
    for pid in descendants(os.getpid()):
        try:
            with open(f"/proc/{pid}/schedstat") as handle:
                run, wait = handle.read().split()[:2]
        except (OSError, ValueError):
            continue
        found[pid] = (int(run) / 1e9, int(wait) / 1e9)
    return found


class Probe:
    """What the workers did during one timed run: cores they had, and the wall the run would have
    taken had no worker waited for a core (the machine is shared: other sessions' work takes its
    turns, and Linux gives each session its share however many processes it runs)."""

    def __init__(self, parallel: bool):
        self.parallel = parallel

    def __enter__(self):
        self.before, self.start = schedstats(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.start
        after = schedstats()
        deltas = [(run - self.before[pid][0], wait - self.before[pid][1]) for pid, (run, wait) in after.items()
                  if pid in self.before]
        busy = [(run, wait) for run, wait in deltas if run > 0.01 * self.wall]  # the workers that worked
        self.cores = sum(run for run, _ in busy) / self.wall
        waits = [wait for _, wait in busy] or [0.0]
        # in a parallel block the workers wait side by side; in a sequence one after another
        self.projected = self.wall - (min(waits) if self.parallel else sum(waits))


async def main(rounds: int, seconds: float) -> None:
    workers = SETTINGS.python_workers
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {workers} worker processes")
    limit = calibrate(seconds)
    start = time.thread_time()
    count_primes(limit)
    one = time.thread_time() - start
    print(f"the work: count_primes({limit}) = {one:.2f} s of CPU in this process; {BRANCHES} branches of it")

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

    async def engine_run(kind: str) -> Probe:
        with Probe(kind == "parallel") as probe:
            result = await runner.run(plans[kind], {})
        assert result.status == "succeeded", result.error
        return probe

    async def bare_run(kind: str) -> Probe:
        with Probe(kind == "parallel") as probe:
            if kind == "parallel":
                await asyncio.gather(*(asyncio.wrap_future(bare.submit(count_primes, limit))
                                       for _ in range(BRANCHES)))
            else:
                for _ in range(BRANCHES):
                    await asyncio.wrap_future(bare.submit(count_primes, limit))
        return probe

    probes: dict[tuple[str, str], list[Probe]] = {}
    for r in range(rounds):
        order = ("sequence", "parallel") if r % 2 == 0 else ("parallel", "sequence")
        for how, run in (("engine", engine_run), ("bare", bare_run)):
            for kind in order:
                probes.setdefault((how, kind), []).append(await run(kind))
        last = {key: value[-1] for key, value in probes.items()}
        print(f"  round {r + 1}: " + "; ".join(
            f"{how} {last[(how, 'sequence')].wall:.2f} s -> {last[(how, 'parallel')].wall:.2f} s "
            f"({last[(how, 'parallel')].wall / last[(how, 'sequence')].wall:.3f}x, workers had "
            f"{last[(how, 'sequence')].cores:.2f} then {last[(how, 'parallel')].cores:.2f} cores)"
            for how in ("engine", "bare")) + f"; load {os.getloadavg()[0]:.1f}")
    bare.shutdown()
    runner.close()
    med = {key: statistics.median(p.wall for p in value) for key, value in probes.items()}
    proj = {key: statistics.median(p.projected for p in value) for key, value in probes.items()}
    cores = {key: statistics.median(p.cores for p in value) for key, value in probes.items()}
    ratio = med[("engine", "parallel")] / med[("engine", "sequence")]
    bound = med[("bare", "parallel")] / med[("bare", "sequence")]
    print(f"{BRANCHES} CPU-bound python branches of ~{one:.2f} s, median of {rounds} interleaved rounds:\n"
          f"  engine: sequence {med[('engine', 'sequence')]:.2f} s, parallel {med[('engine', 'parallel')]:.2f} s"
          f" = {ratio:.3f}x (goal <= 0.55x); the workers had {cores[('engine', 'sequence')]:.2f} cores in"
          f" sequence, {cores[('engine', 'parallel')]:.2f} in parallel\n"
          f"  bare ProcessPoolExecutor({workers}) the same way, the machine's bound now: {bound:.3f}x\n"
          f"  without the time workers waited for a core (schedstat; what {workers} free cores would give):"
          f" engine {proj[('engine', 'sequence')]:.2f} s -> {proj[('engine', 'parallel')]:.2f} s"
          f" = {proj[('engine', 'parallel')] / proj[('engine', 'sequence')]:.3f}x, bare pool"
          f" {proj[('bare', 'parallel')] / proj[('bare', 'sequence')]:.3f}x")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="the work of one branch")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.seconds))
