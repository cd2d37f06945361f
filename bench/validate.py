"""Loading bench: time and peak memory to load, validate and plan very large workflows.

Run: ``python bench/validate.py`` (``--steps N`` to change the size, default 20 000;
``--quick`` for a smoke run of 2 000). Each shape is measured in a fresh subprocess, so its
peak RSS (``ru_maxrss``) is its own: the figure includes the interpreter and the imports,
printed apart as ``base``. Every document must stay under the 1 MiB limit of
``engine.source``: steps are written in YAML flow style, and steps without references share
one ``with`` through an alias (``with: *w``), with no spaces after commas; an eighth of the
steps read an earlier step.

Shapes: a flat sequence whose steps read earlier ones, a ``needs`` chain as long as the
workflow, a DAG whose steps need two random earlier ones, one parallel block with a branch
per step, foreach bodies reading earlier body steps, the item and steps before the block,
groups nested inside groups, and a broken workflow where every eighth step reads an unknown
name (each such problem is reported, so this is the cost of thousands of issues).
"""

from __future__ import annotations

import argparse
import json
import keyword
import os
import random
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHAPES = ("sequence", "needs_chain", "dag", "wide_parallel", "foreach", "nested_groups", "broken")


_FIRST = "ABCDEGHIJKLMPQRSUVWXZabcdeghijklmpqrsuvwxz"  # no YAML 1.1 bool starts with these
_REST = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def sid(i: int) -> str:
    """Short ids (3 characters up to 160 000 steps), so 20 000 steps fit in 1 MiB."""
    out = ""
    i, r = divmod(i, len(_FIRST))
    out = _FIRST[r]
    while i:
        i, r = divmod(i, len(_REST))
        out += _REST[r]
    return out + "_" if keyword.iskeyword(out) else out  # ${if} would not parse


_anchored = [False]


def action(i: int, *, ref: str | None = None, needs: list[str] | None = None) -> str:
    """One ``wait`` step; ``with`` is shared through a YAML alias unless it reads ``ref``."""
    if ref is not None:
        with_ = '{seconds: 0,value: "${%s}"}' % ref
    elif _anchored[0]:
        with_ = "*w"
    else:
        with_, _anchored[0] = "&w {seconds: 0}", True
    need = "" if needs is None else f"needs: [{','.join(needs)}],"
    return f"{{id: {sid(i)},{need}uses: wait,with: {with_}}}"


def document(shape: str, n: int) -> str:
    rnd = random.Random(10)
    _anchored[0] = False
    lines = [f"name: bench-{shape.replace('_', '-')}", "steps:"]
    if shape == "sequence":  # every 8th step reads the one before it, or the first
        lines += [f"- {action(i, ref={7: sid(i - 1), 3: sid(0)}.get(i % 8) if i else None)}" for i in range(n)]
    elif shape == "needs_chain":
        lines += [f"- {action(i, needs=[sid(i - 1)] if i else [], ref=sid(i - 1) if i % 8 == 7 else None)}"
                  for i in range(n)]
    elif shape == "dag":  # each step needs one or two random earlier ones
        for i in range(n):
            needs = sorted({sid(rnd.randrange(i)) for _ in range(1 + i % 2)}) if i else []
            lines.append(f"- {action(i, needs=needs, ref=needs[0] if i % 8 == 7 else None)}")
    elif shape == "wide_parallel":
        lines.append(f"- {action(0)}")
        lines.append(f"- id: {sid(1)}")
        lines.append("  parallel:")
        lines += [f"  - {action(i, ref=sid(0) if i % 8 == 7 else None)}" for i in range(2, n - 1)]
        lines.append(f"- {action(n - 1, ref=sid(n - 2))}")
    elif shape == "foreach":  # bodies of 99 steps reading the item, the step before, the last block
        body, i, before = 99, 0, None
        while i < n:
            head = i
            i += 1
            rows = []
            for k in range(min(body, n - i)):
                ref = {3: "item", 7: sid(i - 1)}.get(k % 8) if k else before
                rows.append(action(i, ref=ref))
                i += 1
            lines.append(f"- {{id: {sid(head)},foreach: [1,2],steps: [\n  " + ",\n  ".join(rows) + "]}")
            before = sid(head)
    elif shape == "nested_groups":  # a group holding a step and a group holding ... 20 deep
        depth, i = 20, 0
        while i < n:
            opened, parts, top = 0, [], i
            while opened < depth and i + 2 < n:
                parts.append(f"{{id: {sid(i)},steps: [{action(i + 1, ref=sid(top - 1) if top else None)},")
                i += 2
                opened += 1
            parts.append(action(i, ref=sid(i - 1) if opened else None))
            i += 1
            lines.append("- " + "".join(parts) + "]}" * opened)
    elif shape == "broken":  # every 8th step reads a name that does not exist
        lines += [f"- {action(i, ref=('u_' + sid(i)) if i % 8 == 7 else None)}" for i in range(n)]
    else:
        raise SystemExit(f"unknown shape {shape}")
    return "\n".join(lines) + "\n"


def child(shape: str, n: int) -> None:
    """Runs in its own process: build the text, then time load (parse + validate) and plan."""
    import engine

    text = document(shape, n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    issues = 0
    try:
        workflow = engine.load(text, f"{shape}.yaml")
    except engine.WorkflowInvalid as exc:
        workflow, issues = None, len(exc.issues)
    loaded = time.perf_counter()
    steps = 0
    if workflow is not None:
        plan = engine.plan(workflow)
        steps = len(plan.step_ids)
    planned = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"shape": shape, "bytes": len(text.encode()), "steps": steps, "issues": issues,
                      "load_s": loaded - start, "plan_s": planned - loaded, "total_s": planned - start,
                      "base_mb": base, "peak_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2 000 steps, for a smoke run")
    parser.add_argument("--shape", action="append", choices=SHAPES, help="only these shapes")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    n = 2_000 if args.quick else args.steps
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; load + validate + plan of {n} steps")
    print(f"{'shape':<14} {'KiB':>6} {'steps':>6} {'issues':>6} {'load s':>7} {'plan s':>7} "
          f"{'total s':>7} {'base MB':>8} {'peak MB':>8}")
    for shape in args.shape or SHAPES:
        out = subprocess.run([sys.executable, __file__, "--child", shape, str(n)],
                             capture_output=True, text=True)
        if out.returncode:
            print(f"{shape:<14} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout)
        print(f"{shape:<14} {r['bytes'] / 1024:>6.0f} {r['steps']:>6} {r['issues']:>6} {r['load_s']:>7.2f} "
              f"{r['plan_s']:>7.2f} {r['total_s']:>7.2f} {r['base_mb']:>8.0f} {r['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
