"""Load bench: parse, validate and plan of a 10 000-step workflow and of a 1 MiB document,
each phase apart, with and without the garbage collector's share; and what ``${len(fan)}``
costs over a 10 000-entry output.

Run: ``python bench/load.py`` (``--rounds N``, default 5; ``--steps N``, default 10 000).
Goals (issue 15): 10 000 steps loaded, validated and planned in ≤ 0.3 s; a 1 MiB document in
≤ 1 s. ``bench/validate.py`` is the other loading bench (peak memory over hostile shapes).

The workflow looks like a real one written by hand, in block-style YAML: sequences of action
steps whose ``with`` reads earlier steps through ``${...}`` (templates, calls, indexes),
chains of ``needs``, a parallel block, a foreach whose body reads the item, and ``if``
conditions; the 1 MiB document is the same shape grown until it is just under the limit.

Phases: ``parse`` is ``engine.source.parse`` (YAML → data with positions), ``validate`` is
the rest of ``engine.load`` (models and format rules), ``plan`` is ``engine.plan``,
``describe`` is ``Plan.describe()`` (what a run hands to its ``run.started`` event). Each round
times every phase with the collector on (as a server runs) and again with it off; the
figures are medians over the rounds, each case interleaved with the others, as wall time and
as CPU time (steadier on a shared machine). ``--heap N`` holds N small objects first, as a
server's heap would: the collector's full passes scan them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine  # noqa: E402
from engine import loader, source  # noqa: E402

GOALS = {"10k steps": 0.3, "1 MiB": 1.0}


def _action(i: int, prev: str | None, indent: str) -> list[str]:
    """One action step in block style; most read the step before them."""
    sid = f"s{i}"
    lines = [f"{indent}- id: {sid}", f"{indent}  uses: wait"]
    shape = i % 10
    if prev is None or shape == 0:
        lines.append(f"{indent}  with: {{seconds: 0, value: {i}}}")
    elif shape in (1, 2, 3):
        lines.append(f"{indent}  with:")
        lines.append(f"{indent}    seconds: 0")
        lines.append(f'{indent}    value: "row ${{{prev}}} of {i}"')
    elif shape == 4:
        lines.append(f"{indent}  with: {{seconds: 0, value: \"${{{prev} + 1}}\"}}")
    elif shape == 5:
        lines.append(f"{indent}  if: ${{{prev} != 3}}")
        lines.append(f"{indent}  with: {{seconds: 0, value: [\"${{{prev}}}\", {i}, x]}}")
    elif shape == 6:
        lines.append(f"{indent}  name: Step number {i}")
        lines.append(f"{indent}  timeout: 30s")
        lines.append(f"{indent}  with: {{seconds: 0, value: {{n: \"${{{prev}}}\", label: \"step-{i}\"}}}}")
    elif shape == 7:
        lines.append(f"{indent}  with: {{seconds: 0, value: \"${{str({prev}) + '-' + lower('A')}}\"}}")
    else:
        lines.append(f"{indent}  with: {{seconds: 0, value: \"${{default({prev}, 0)}}\"}}")
    return lines


def document(n: int) -> str:
    """A workflow of about ``n`` steps: blocks of 100 steps, every tenth block a parallel of 50
    branches, a foreach of 40 body steps or a group whose steps chain through ``needs``."""
    out = ["name: bench-load", "description: a large workflow for bench/load.py",
           "inputs:", "  count: {type: integer, default: 3}", "steps:"]
    i, prev, block = 0, None, 0
    while i < n:
        kind = block % 10
        if kind == 3 and n - i > 52:  # a parallel: branches read what was before the block
            head = i
            out += ["- id: s%d" % head, "  parallel:"]
            i += 1
            for _ in range(50):
                out += _action(i, prev, "  ")
                i += 1
            prev = f"s{head}"
        elif kind == 6 and n - i > 42:  # a foreach over a literal list, its body reading the item
            head = i
            out += [f"- id: s{head}", "  foreach: [a, b, c]", "  concurrency: 2", "  steps:"]
            i += 1
            inner = "item"
            for _ in range(40):
                out += _action(i, inner, "  ")
                inner = f"s{i}"
                i += 1
            prev = f"s{head}"
        elif kind == 8 and n - i > 32:  # a group whose steps need one or two earlier ones
            head = i
            out += [f"- id: s{head}", "  steps:"]
            i += 1
            first = i
            for k in range(30):
                lines = _action(i, None if k == 0 else f"s{i - 1}", "  ")
                if k:
                    needs = sorted({f"s{i - 1}", f"s{first + (k * 7) % k}"})
                    lines.insert(2, f"    needs: [{', '.join(needs)}]")
                out += lines
                i += 1
            prev = f"s{head}"
        else:  # a plain sequence
            for _ in range(min(100, n - i)):
                out += _action(i, prev, "")
                prev = f"s{i}"
                i += 1
        block += 1
    out += ["outputs:", f"  last: ${{{prev}}}"]
    return "\n".join(out) + "\n"


def one_mib() -> str:
    """The same shape, grown to just under ``source.MAX_BYTES``."""
    low, high = 1000, 40_000
    while high - low > 50:
        mid = (low + high) // 2
        if len(document(mid).encode()) <= source.MAX_BYTES:
            low = mid
        else:
            high = mid
    return document(low)


def phases(text: str, collect: bool) -> dict[str, float]:
    """Seconds of each phase of one load (wall, and CPU as ``cpu_*``: the machine is shared),
    with the collector on or off (restored after)."""
    # engine.load pauses the collector itself where it can: the parse alone is timed the same way
    pause = getattr(loader, "collector_paused", contextlib.nullcontext)
    was = gc.isenabled()
    gc.collect()
    if not collect:
        gc.disable()
    marks = []

    def mark():
        marks.append((time.perf_counter(), time.process_time()))

    try:
        mark()
        with pause():
            source.parse(text)
        mark()
        workflow = engine.load(text)
        mark()
        plan = engine.plan(workflow)
        mark()
        plan.describe()
        mark()
    finally:
        if was:
            gc.enable()
    out = {}
    for prefix, k in (("", 0), ("cpu_", 1)):
        t0, t1, t2, t3, t4 = (m[k] for m in marks)
        # engine.load parses again: its validate share is what it took beyond a parse
        out.update({prefix + "parse": t1 - t0, prefix + "validate": (t2 - t1) - (t1 - t0), prefix + "plan": t3 - t2,
                    prefix + "describe": t4 - t3, prefix + "load+validate+plan": t3 - t1})
    return out


async def _len_fan(expr: str) -> tuple[float, float]:
    """ms of the step reading ``fan`` (its start → its end), and its evaluation alone."""
    doc = {"name": "lenfan", "steps": [
        {"id": "fan", "uses": "wait", "with": {"seconds": 0, "value": [{"i": i, "v": "x"} for i in range(10_000)]}},
        {"id": "n", "uses": "wait", "with": {"seconds": 0, "value": expr}},
    ]}
    import json

    plan = engine.plan(engine.load(json.dumps(doc)))
    runner = engine.Runner()
    sink = engine.ListSink()
    await runner.run(plan, {}, sink)
    runner.close()
    ts = {(getattr(e, "path", None), e.type): e.ts for e in sink.events}
    step = ts[("n", "step.succeeded")] - ts[("n", "step.started")]
    from engine.expressions import Evaluator
    from engine.scope import Scope

    fan = [{"i": i, "v": "x"} for i in range(10_000)]
    evaluator, scope = Evaluator(), Scope({"fan": fan})
    start = time.perf_counter()
    for _ in range(100):
        engine.expressions.render({"value": expr}, scope, evaluator)
    alone = (time.perf_counter() - start) / 100
    return step * 1e3, alone * 1e3


async def _after_parallel(expr: str) -> tuple[float, float]:
    """The time between a 10 000-branch parallel ``fan`` and the step reading it, and that step's."""
    import json

    doc = {"name": "lenfan", "steps": [
        {"id": "fan", "parallel": [{"id": f"b{i}", "uses": "wait", "with": {"seconds": 0, "value": i}}
                                   for i in range(10_000)]},
        {"id": "n", "uses": "wait", "with": {"seconds": 0, "value": expr}},
    ]}
    plan = engine.plan(engine.load(json.dumps(doc)))
    runner = engine.Runner()
    sink = engine.ListSink()
    await runner.run(plan, {}, sink)
    runner.close()
    ts = {(getattr(e, "path", None), e.type): e.ts for e in sink.events}
    gap = ts[("n", "step.started")] - ts[("fan", "step.succeeded")]
    step = ts[("n", "step.succeeded")] - ts[("n", "step.started")]
    return gap * 1e3, step * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--heap", type=int, default=0,
                        help="long-lived objects to hold first, as a server's heap would (the collector scans them)")
    args = parser.parse_args()
    heap = [[i] for i in range(args.heap)]  # noqa: F841 - tracked (a list always is), kept for the collector to scan
    cases = {"10k steps": document(args.steps), "1 MiB": one_mib()}
    for name, text in cases.items():
        workflow = engine.load(text)
        count = len(engine.plan(workflow).step_ids)
        print(f"{name}: {len(text.encode()) / 1024:.0f} KiB, {count} steps, {text.count(chr(10))} lines")
    results: dict[tuple, list[dict]] = {}
    for _ in range(args.rounds):  # interleaved: every case, both collector settings, each round
        for name, text in cases.items():
            for collect in (True, False):
                results.setdefault((name, collect), []).append(phases(text, collect))
    keys = ("parse", "validate", "plan", "describe", "load+validate+plan")
    for prefix, what in (("", "wall"), ("cpu_", "CPU (process time)")):
        print(f"\n{what}: median of {args.rounds} rounds, seconds")
        print(f"{'case':<10} {'gc':<4} " + " ".join(f"{k:>18}" for k in keys) + f" {'goal':>6}")
        for (name, collect), rounds in results.items():
            med = {k: statistics.median(r[prefix + k] for r in rounds) for k in keys}
            mark = "ok" if med["load+validate+plan"] <= GOALS[name] else "MISSED"
            print(f"{name:<10} {'on' if collect else 'off':<4} " + " ".join(f"{med[k]:>18.3f}" for k in keys)
                  + f" {GOALS[name]:>5}s {mark if collect else ''}")
    print("\n${len(fan)} over a 10 000-entry output (ms): the step start → end in a run, and render() alone")
    for expr in ("${len(fan)}", "${fan[0].i}", "1"):
        step, alone = asyncio.run(_len_fan(expr))
        print(f"  {expr:<14} step {step:8.3f}   render alone {alone:8.4f}")
    print("after a parallel of 10 000 branches (ms, median of 3): its step.succeeded → the next step's "
          "step.started, and that step's start → end")
    for expr in ("${len(fan)}", "1"):
        runs = [asyncio.run(_after_parallel(expr)) for _ in range(3)]
        gap, step = (statistics.median(r[k] for r in runs) for k in (0, 1))
        print(f"  {expr:<14} gap {gap:8.3f}   step {step:8.3f}")


if __name__ == "__main__":
    main()
