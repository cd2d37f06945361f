"""The recorder's barrier (builder/recorder.py): when an action step's code begins, the
database already holds its start and the end of every step before it, so a process that dies
during the call leaves nothing a takeover would run again by mistake; and events are written
before they are sent, a frame an interval however many steps store their starts."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

import engine
from builder.models import Run, RunEvent, StepRun
from builder.recorder import RunRecorder
from builder.services import create_run, save_workflow

pytestmark = pytest.mark.django_db(transaction=True)

SEEN: dict[str, dict] = {}


class Look(engine.Action):
    """Looks at the database from inside a step's call: what is stored of this run right now."""

    name = "look"
    Params = engine.Params

    async def run(self, params, ctx):
        run_id = int(ctx.run_id)
        rows = {path: status async for path, status in
                StepRun.objects.filter(run_id=run_id).values_list("path", "status")}
        events = [kind async for kind in RunEvent.objects.filter(run_id=run_id).values_list("type", flat=True)]
        SEEN[ctx.path] = {"rows": rows, "events": events}
        await asyncio.sleep(0.001)
        return ctx.path


TEXT = """name: barrier
steps:
  - {id: a, uses: look}
  - {id: b, uses: look}
  - id: many
    foreach: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    concurrency: 5
    steps:
      - {id: c, uses: look}
  - {id: d, uses: look}
"""


async def test_a_step_starts_its_call_only_once_its_start_and_every_step_before_it_are_stored(alice):
    registry = engine.default_registry()
    registry.register(Look)
    workflow = await sync_to_async(save_workflow)(alice, TEXT.replace("look", "wait").replace(
        "uses: wait}", "uses: wait, with: {seconds: 0}}"))
    run = await sync_to_async(create_run)(workflow, alice, {})
    recorder = RunRecorder(run.pk, send=False)
    await recorder.start()
    runner = engine.Runner(registry)
    SEEN.clear()
    result = await runner.run(engine.plan(engine.load(TEXT, registry=registry), registry), {}, recorder,
                              run_id=str(run.pk))
    await recorder.close()
    assert result.status == "succeeded"
    assert SEEN["a"]["rows"] == {"a": "running"} and "run.started" in SEEN["a"]["events"]
    assert SEEN["b"]["rows"] == {"a": "succeeded", "b": "running"}
    for i in range(10):
        rows = SEEN[f"many[{i}].c"]["rows"]
        assert rows[f"many[{i}].c"] == "running" and rows["b"] == "succeeded"
    assert SEEN["d"]["rows"]["many"] == "succeeded"
    assert all(SEEN["d"]["rows"][f"many[{i}].c"] == "succeeded" for i in range(10))
    # concurrent starts share writes (a group commit): fewer writes than steps
    assert recorder.writes < 14, recorder.writes
    done = await Run.objects.aget(pk=run.pk)
    assert done.status == "succeeded"


async def test_a_chain_of_steps_stores_each_start_but_sends_a_frame_an_interval(alice):
    """Writes follow the steps; frames follow the clock (about ten a second)."""
    from channels.layers import get_channel_layer

    text = "name: chain\nsteps:\n" + "".join(f"  - {{id: s{i}, uses: wait, with: {{seconds: 0.002}}}}\n"
                                             for i in range(60))
    workflow = await sync_to_async(save_workflow)(alice, text)
    run = await sync_to_async(create_run)(workflow, alice, {})
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(f"run.{run.pk}", channel)
    recorder = RunRecorder(run.pk)
    await recorder.start()
    loop = asyncio.get_running_loop()
    began = loop.time()
    result = await engine.Runner().run(engine.plan(engine.load(text)), {}, recorder, run_id=str(run.pk))
    await recorder.close()
    took = loop.time() - began
    assert result.status == "succeeded"
    frames = []
    while True:
        try:
            frames.append(await asyncio.wait_for(layer.receive(channel), 0.2))
        except TimeoutError:
            break
    assert recorder.writes >= 60, "each step's start is stored before its call"
    assert len(frames) <= took * 10 + 3, (len(frames), took)
    sent = [event["seq"] for frame in frames for event in json.loads(frame["text"])["events"]]
    stored = [seq async for seq in RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True)]
    assert sent == stored, "what was sent is exactly what was stored"


async def test_a_step_cancelled_while_its_barrier_writes_never_loses_the_batch(alice):
    """fail_fast cancels steps that wait in the barrier: their wait ends, but the write goes on,
    for the batch holds other steps' events too (an end lost there left a row 'running')."""
    import time

    from engine import events as ev

    workflow = await sync_to_async(save_workflow)(alice, "name: w\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0}}\n")
    run = await sync_to_async(create_run)(workflow, alice, {})
    recorder = RunRecorder(run.pk, send=False)
    await recorder.start()
    busy = asyncio.ensure_future(sync_to_async(time.sleep)(0.3))  # the database thread is busy: the write queues
    await asyncio.sleep(0.05)
    now = time.time()
    recorder.emit(ev.StepStarted(1, now, str(run.pk), "a", "a", "action", "wait", 1, None))
    recorder.emit(ev.StepStarted(2, now, str(run.pk), "b", "b", "action", "wait", 1, None))
    recorder.emit(ev.StepSucceeded(3, now, str(run.pk), "a", 1, 1, 1.0))
    waiting = asyncio.ensure_future(recorder.stored())  # b's barrier
    await asyncio.sleep(0.05)
    waiting.cancel()  # b is cancelled (fail_fast) while its barrier's write waits for the thread
    await busy
    await recorder.close()
    rows = {path: status async for path, status in StepRun.objects.filter(run=run).values_list("path", "status")}
    assert rows == {"a": "succeeded", "b": "running"}, rows
    assert [seq async for seq in RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True)] \
        == [1, 2, 3]
