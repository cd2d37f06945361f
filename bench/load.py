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
figures are medians over the rounds, each case interleaved with the others.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine  # noqa: E402
from engine import source  # noqa: E402

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
    """Seconds of each phase of one load, with the collector on or off (restored after)."""
    was = gc.isenabled()
    gc.collect()
    if not collect:
        gc.disable()
    try:
        t0 = time.perf_counter()
        source.parse(text)
        t1 = time.perf_counter()
        workflow = engine.load(text)
        t2 = time.perf_counter()
        plan = engine.plan(workflow)
        t3 = time.perf_counter()
        plan.describe()
        t4 = time.perf_counter()
    finally:
        if was:
            gc.enable()
    # engine.load parses again: its validate share is what it took beyond a parse
    return {"parse": t1 - t0, "validate": (t2 - t1) - (t1 - t0), "plan": t3 - t2, "describe": t4 - t3,
            "load+validate+plan": t3 - t1}


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10_000)
    args = parser.parse_args()
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
    print(f"\nmedian of {args.rounds} rounds, seconds")
    print(f"{'case':<10} {'gc':<4} " + " ".join(f"{k:>18}" for k in keys) + f" {'goal':>6}")
    for (name, collect), rounds in results.items():
        med = {k: statistics.median(r[k] for r in rounds) for k in keys}
        total = med["load+validate+plan"]
        mark = "ok" if total <= GOALS[name] else "MISSED"
        print(f"{name:<10} {'on' if collect else 'off':<4} " + " ".join(f"{med[k]:>18.3f}" for k in keys)
              + f" {GOALS[name]:>5}s {mark if collect else ''}")
    print("\n${len(fan)} over a 10 000-entry output (ms): the step start → end in a run, and render() alone")
    for expr in ("${len(fan)}", "${fan[0].i}", "1"):
        step, alone = asyncio.run(_len_fan(expr))
        print(f"  {expr:<14} step {step:8.3f}   render alone {alone:8.4f}")


if __name__ == "__main__":
    main()
