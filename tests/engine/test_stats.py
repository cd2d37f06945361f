"""Run figures (docs/format.md, "Run figures"): a block's wall is the union of its instances'
intervals, cancelled time is no work, a speed-up is one only above 1, and the words name what
overlapped. The monitor's figures.js words them the same."""

import asyncio
import json
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import pytest

from engine.stats import (BlockStat, blocks_from_rows, describe_block, describe_run, run_figures, seconds_text,
                          speedup, union_wall)
from tests.engine.helpers import run

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def stat(kind="foreach"):
    clock = Clock()
    return BlockStat("loop", kind, clock=clock), clock


# -- BlockStat: the union of the instances' intervals --------------------------------------------
def test_overlapping_instances_count_once_and_gaps_not_at_all():
    block, clock = stat("parallel")
    first = block.begin()           # [0, 10]
    clock.now = 2
    second = block.begin()          # [2, 5] inside the first
    clock.now = 5
    block.end(second)
    clock.now = 8
    third = block.begin()           # [8, 12] overlaps the first's end
    clock.now = 10
    block.end(first)
    clock.now = 12
    block.end(third)
    clock.now = 20
    block.end(block.begin())        # [20, 20]: nothing
    clock.now = 30
    last = block.begin()            # [30, 31] after a gap
    clock.now = 31
    block.end(last)
    assert block.wall == 13.0       # the old sum of instances would say 10 + 3 + 4 + 0 + 1 = 18
    assert block.busy == 18.0 and block.instances == 5 and block.peak == 2


def test_a_parallel_in_a_foreach_of_10_000_items_8_at_once_has_the_foreachs_wall_in_o1_memory():
    """Every item runs the block for 1 s, 8 items at once: 1 250 s of wall, not 10 000 s."""
    block, clock = stat("parallel")
    tracemalloc.start()
    running = []
    for item in range(10_000):
        if len(running) == 8:
            clock.now += 1.0
            for token in running:
                block.end(token)
            running = []
        running.append(block.begin())
        block.work += 2.0  # two 1 s branches
    clock.now += 1.0
    for token in running:
        block.end(token)
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert block.wall == 1250.0 and block.work == 20_000.0
    assert (block.instances, block.peak) == (10_000, 8)
    assert kept < 4_000, "the block keeps no per-instance state"
    figures = block.as_dict()
    assert figures["wall_ms"] == 1_250_000 and figures["saved_ms"] == 18_750_000
    assert figures["text"] == ("loop (parallel, ran 10000 times, up to 8 at once): 20 min 50 s for 5 h 33 min "
                               "of work, saved 5 h 12 min across branches and overlapping runs")


def test_wall_grows_while_an_instance_runs_and_a_token_ends_once():
    block, clock = stat()
    token = block.begin()
    clock.now = 3
    assert block.wall == 3.0  # live: the open interval so far
    block.end(token)
    clock.now = 9
    block.end(token)  # a second end changes nothing
    block.end(None)
    assert block.wall == 3.0 and block.busy == 3.0


def test_the_old_protocol_still_adds_to_wall():
    """``stat.wall += elapsed`` (what a caller not yet on begin/end does) keeps working."""
    block, _ = stat()
    block.wall += 1.5
    block.wall += 0.5
    assert block.wall == 2.0


def test_union_wall_of_stored_intervals():
    assert union_wall([(5, 6), (0, 2), (1, 3), (3, 4), (7, 7)]) == 5.0
    assert union_wall([]) == 0.0


def test_blocks_from_rows_name_blocks_by_id_and_count_work_inside_them():
    blocks = [("each", "foreach", 0.0, 10.0)] + [(f"each[{i}].fan", "parallel", i * 1.0, i * 1.0 + 4) for i in range(4)]
    actions = [(f"each[{i}].fan.{b}", 4.0) for i in range(4) for b in "ab"] + [("after", 1.0)]
    figures = {b["path"]: b for b in blocks_from_rows(blocks, actions)}
    assert figures["each"]["work_ms"] == 32_000 and figures["each"]["wall_ms"] == 10_000
    assert figures["fan"]["wall_ms"] == 7_000 and figures["fan"]["work_ms"] == 32_000
    assert (figures["fan"]["instances"], figures["fan"]["peak"]) == (4, 4)
    assert figures["fan"]["text"].endswith("saved 25.0 s across branches and overlapping runs")


# -- the words --------------------------------------------------------------------------------------
def test_a_speedup_below_1_is_never_called_one():
    """Today's terminal said "0.8× from parallel branches" (wall 5 s, work 4 s)."""
    text = describe_run({"wall_ms": 5000, "work_ms": 4000, "blocks": []})
    assert "×" not in text and "parallel" not in text
    assert text == "ran in 5.0 s; 4.0 s of work; no speed-up: for at least 1.0 s no step was working"
    assert describe_run({"wall_ms": 1000, "work_ms": 1020}) == \
        "ran in 1.0 s; 1.0 s of work; no speed-up: steps ran one at a time"
    assert speedup(1000, 1049) is None and speedup(1000, 1050) == 1.05 and speedup(0, 10) is None


def test_a_foreachs_gain_is_never_called_from_parallel_branches():
    foreach = {"path": "loop", "kind": "foreach", "wall_ms": 3000, "work_ms": 12000, "saved_ms": 9000}
    text = describe_run({"wall_ms": 4100, "work_ms": 9000, "blocks": [foreach]})
    assert text == "ran in 4.1 s; 9.0 s of work; 2.2× from foreach items"
    assert describe_block(foreach) == "loop (foreach): 3.0 s for 12.0 s of work, saved 9.0 s across items"
    parallel = {**foreach, "path": "fan", "kind": "parallel"}
    assert describe_run({"wall_ms": 4100, "work_ms": 9000, "blocks": [parallel]}).endswith(
        "2.2× from parallel branches")
    assert describe_block(parallel).endswith("saved 9.0 s across branches")
    both = describe_run({"wall_ms": 4100, "work_ms": 9000, "blocks": [parallel, foreach]})
    assert both.endswith("2.2× from parallel branches and foreach items")
    dag = describe_run({"wall_ms": 4100, "work_ms": 9000, "blocks": []})
    assert dag.endswith("2.2× from steps running side by side")


def test_a_block_that_saved_nothing_says_so():
    text = describe_block({"path": "one", "kind": "foreach", "wall_ms": 2000, "work_ms": 1900, "saved_ms": 0})
    assert text == "one (foreach): 2.0 s for 1.9 s of work, no time saved"


def test_durations_for_people():
    assert [seconds_text(s) for s in (0, 0.0004, 0.012, 0.049, 0.05, 4.14, 59.9, 125, 3725)] == \
        ["0 s", "1 ms", "12 ms", "49 ms", "0.1 s", "4.1 s", "59.9 s", "2 min 5 s", "1 h 2 min"]
    assert run_figures({"wall_ms": 800}, running=True) == ["running for 0.8 s"]


SUMMARIES = [
    {"wall_ms": 5000, "work_ms": 4000, "blocks": []},
    {"wall_ms": 1000, "work_ms": 1020},
    {"wall_ms": 4100, "work_ms": 9000, "blocks": [{"kind": "foreach", "saved_ms": 9000}]},
    {"wall_ms": 4100, "work_ms": 9000, "blocks": [{"kind": "parallel", "saved_ms": 5},
                                                  {"kind": "foreach", "saved_ms": 0.5}]},
    {"wall_ms": 125_000, "work_ms": 0},
    {"wall_ms": 30, "work_ms": 61},
]
BLOCKS = [
    {"path": "loop", "kind": "foreach", "wall_ms": 3000, "work_ms": 12000, "saved_ms": 9000},
    {"path": "fan", "kind": "parallel", "wall_ms": 3000, "work_ms": 12000, "saved_ms": 9000, "instances": 100,
     "peak": 8},
    {"path": "one", "kind": "foreach", "wall_ms": 2000, "work_ms": 1900, "saved_ms": 0, "instances": 3, "peak": 1},
]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_monitor_words_the_figures_as_the_engine_does(tmp_path):
    module = tmp_path / "figures.mjs"
    module.write_text((ROOT / "static/monitor/figures.js").read_text())
    script = (f"import {{runFigures, describeBlock}} from {json.dumps(str(module))};\n"
              f"const s = {json.dumps(SUMMARIES)}; const b = {json.dumps(BLOCKS)};\n"
              "console.log(JSON.stringify([s.map((x) => runFigures(x)), s.map((x) => runFigures(x, true)),"
              " b.map(describeBlock)]));\n")
    out = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [[run_figures(s) for s in SUMMARIES], [run_figures(s, True) for s in SUMMARIES],
                                      [describe_block(b) for b in BLOCKS]]


# -- measured by the runner -------------------------------------------------------------------------
async def test_the_runner_counts_no_work_for_a_cancelled_step():
    from engine import ListSink, Runner, plan
    from tests.engine.helpers import SETTINGS, load

    runner = Runner(settings=SETTINGS)
    sink = ListSink()
    workflow = load("""
        name: c
        steps:
          - {id: quick, uses: wait, with: {seconds: 0.05}}
          - {id: long, uses: wait, with: {seconds: 5}}
    """)
    task = asyncio.ensure_future(runner.run(plan(workflow), None, sink, run_id="r"))
    for _ in range(200):
        if any(e.type == "step.started" and e.path == "long" for e in sink.events):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    runner.cancel("r")
    result = await task
    runner.close()
    assert result.status == "cancelled"
    assert 40 <= result.summary["work_ms"] < 250, "0.3 s of the cancelled step is not work"
    assert "×" not in describe_run(result.summary)


async def test_a_parallel_inside_a_foreach_reports_its_real_wall():
    result, _ = await run("""
        name: nested
        steps:
          - id: each
            foreach: [1, 2, 3, 4, 5, 6, 7, 8]
            concurrency: 8
            steps:
              - id: fan
                parallel:
                  - {id: a, uses: wait, with: {seconds: 0.2}}
                  - {id: b, uses: wait, with: {seconds: 0.2}}
    """)
    blocks = {b["path"]: b for b in result.summary["blocks"]}
    wall = result.summary["wall_ms"]
    assert blocks["fan"]["wall_ms"] <= wall, "not 8 items' walls summed"
    assert blocks["fan"]["instances"] == 8 and blocks["fan"]["peak"] == 8
    assert "across branches and overlapping runs" in blocks["fan"]["text"]
