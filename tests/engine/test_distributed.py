"""The engine's halves of a spread foreach (engine/distributed.py), with a distributor that
sends chunks to other Runner instances in this process: the same results, events, failure
policies and resume behaviour as a foreach run in one place. (The celery transport itself is
tested with real workers in tests/cluster/test_distribute.py.)"""

from __future__ import annotations

import asyncio

import pytest

import engine
from engine import events as ev
from engine.errors import WorkflowInvalid
from tests.engine.helpers import SETTINGS

BODY = """name: spread
inputs:
  fail: {type: integer, default: -1}
steps:
  - {id: base, uses: wait, with: {seconds: 0, value: 100}}
  - id: each
    foreach: ITEMS
    as: x
    concurrency: 4
    on_error: POLICY
    DISTRIBUTE
    steps:
      - {id: check, uses: python, if: "${x == inputs.fail}", with: {function: "engine.functions.text:word_count", args: [1]}}
      - {id: plus, uses: wait, with: {seconds: 0.001, value: "${x * 2 + base + loop.index}"}}
outputs:
  each: ${each}
"""


def _text(policy: str = "fail_fast", distribute: bool = True) -> str:
    return (BODY.replace("POLICY", policy).replace("ITEMS", str(list(range(23))))
            .replace("DISTRIBUTE", "distribute: true" if distribute else ""))


class InProcess:
    """A distributor whose "workers" are other Runners of this process, one per chunk."""

    def __init__(self, text: str, chunk: int = 5):
        self.text, self.chunk = text, chunk
        self.chunks = 0
        self.peak = self.now = 0

    def wants(self, step, total):
        return bool(step.distribute)

    async def run(self, ex, node, path, values, pending, total, limit, frames=()):
        queue: asyncio.Queue = asyncio.Queue()
        lanes = max(1, limit // 2)
        parts = [pending[i:i + self.chunk] for i in range(0, len(pending), self.chunk)]
        gate = asyncio.Semaphore(max(1, limit // lanes))
        running: set[int] = set()
        workflow = engine.load(self.text, settings=SETTINGS)

        class Forward:
            def emit(self, event):
                queue.put_nowait(("ev", event))

        async def one(part):
            async with gate:
                self.chunks += 1
                runner = engine.Runner(settings=SETTINGS)
                await runner.run_items(engine.plan(workflow, runner.registry), path, values, part, total, Forward(),
                                       run_id=f"chunk-{part[0][0]}", lanes=lanes,
                                       on_item=lambda i, out, err: queue.put_nowait(("item", (i, out, err))))

        tasks = [asyncio.ensure_future(one(part)) for part in parts]
        left = len(pending)
        try:
            while left:
                kind, data = await queue.get()
                if kind == "ev":
                    if data.type == "step.started":
                        running.add(int(data.path[len(path) + 1:data.path.index("]")]))
                    ex.forward(data, "")
                else:
                    left -= 1
                    running.discard(data[0])
                    yield data[0], data[1], data[2], len(running)
        finally:
            for task in tasks:  # the contract: stop the chunks, and forward their last events
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            while not queue.empty():
                kind, data = queue.get_nowait()
                if kind == "ev":
                    ex.forward(data, "")


async def _run(text: str, distributor=None, inputs=None, **kwargs):
    runner = engine.Runner(settings=SETTINGS, services={"distribute": distributor} if distributor else None)
    sink = ev.ListSink()
    result = await runner.run(engine.plan(engine.load(text, settings=SETTINGS), runner.registry), inputs or {},
                              sink, **kwargs)
    return result, sink


def _shape(sink):
    """What a watcher learns: each step path's final status, and the progress counts."""
    table = ev.StepTable()
    for event in sink.events:
        table.emit(event)
    progress = [(e.done, e.failed, e.total) for e in sink.of_type("foreach.progress")]
    return {path: row["status"] for path, row in table.steps.items()}, progress[-1]


@pytest.mark.parametrize("policy", ["fail_fast", "wait_all", "continue"])
@pytest.mark.parametrize("fail", [-1, 7])
async def test_a_spread_foreach_gives_what_one_process_gives(policy, fail):
    local, local_sink = await _run(_text(policy, distribute=False), inputs={"fail": fail})
    spread = InProcess(_text(policy))
    remote, remote_sink = await _run(_text(policy), spread, inputs={"fail": fail})
    assert spread.chunks >= 1
    assert (remote.status, remote.outputs, remote.error) == (local.status, local.outputs, local.error)
    if fail < 0 or policy != "fail_fast":  # fail_fast stops wherever the items were: not comparable
        assert _shape(remote_sink) == _shape(local_sink)
    seqs = [e.seq for e in remote_sink.events]
    assert seqs == sorted(set(seqs)), "forwarded events are numbered in the run"
    if fail < 0:
        assert remote.outputs == {"each": [x * 2 + 100 + x for x in range(23)]}


async def test_items_with_stored_steps_go_on_in_the_run_and_are_not_sent():
    completed = {"base": 100, "each[0].check": None, "each[0].plus": 100, "each[1].check": None}
    spread = InProcess(_text())
    result, sink = await _run(_text(), spread, completed=completed)
    assert result.status == "succeeded" and result.outputs["each"][:2] == [100, 103]
    reused = {e.path for e in sink.of_type("step.succeeded") if e.reused}
    assert {"each[0].plus", "each[1].check"} <= reused
    started = {e.path for e in sink.of_type("step.started")}
    assert "each[0].plus" not in started and "each[1].plus" in started


async def test_a_cancelled_run_cancels_its_chunks():
    text = _text().replace("seconds: 0.001", "seconds: 30")
    spread = InProcess(text)
    runner = engine.Runner(settings=SETTINGS, services={"distribute": spread})
    sink = ev.ListSink()
    task = asyncio.ensure_future(runner.run(engine.plan(engine.load(text, settings=SETTINGS), runner.registry),
                                            {}, sink, run_id="r"))
    while not sink.of_type("step.started") or len(sink.of_type("step.started")) < 5:
        await asyncio.sleep(0.01)
    runner.cancel("r")
    result = await asyncio.wait_for(task, 5)
    assert result.status == "cancelled"
    assert not [path for path, status in _shape(sink)[0].items() if status == "running"]


def test_distribute_is_a_foreach_key_only():
    bad = "name: x\nsteps:\n  - id: p\n    distribute: true\n    parallel:\n      - {id: a, uses: wait, with: {seconds: 0}}\n"
    with pytest.raises(WorkflowInvalid) as caught:
        engine.load(bad, settings=SETTINGS)
    assert "distribute" in str(caught.value)


@pytest.mark.parametrize("value", ["sometimes", "[1]", "{a: 1}", "${inputs.x}"])
def test_distribute_takes_only_true_or_false_and_says_where(value):
    text = ("name: x\nsteps:\n  - id: e\n    foreach: [1]\n    distribute: " + value
            + "\n    steps:\n      - {id: a, uses: wait, with: {seconds: 0}}\n")
    with pytest.raises(WorkflowInvalid) as caught:
        engine.load(text, settings=SETTINGS)
    [issue] = caught.value.issues
    assert (issue.line, issue.path) == (5, "steps[0].distribute") and "true or false" in issue.message
