"""The recorder streams as soon as it has written (builder/recorder.py): a frame does not wait
for a tick, the run's last one never waits for the interval, what is sent is what is stored,
and a foreach's items leave no state behind in the recorder. Its JSON (orjson) stays strict."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

import engine
from engine.values import lenient
from builder.frames import cap, dumps, frames, frames_of
from builder.models import RunEvent, StepRun
from builder.recorder import RunRecorder
from builder.services import create_run, save_workflow

pytestmark = pytest.mark.django_db(transaction=True)

FOREACH = """name: many
steps:
  - id: each
    foreach: ${range(300)}
    concurrency: 50
    steps:
      - {id: w, uses: wait, with: {seconds: 0}}
"""


async def frames_of_run(layer, channel) -> list[dict]:
    got = []
    while True:
        try:
            got.append(await asyncio.wait_for(layer.receive(channel), 0.3))
        except TimeoutError:
            return got


async def test_the_last_frame_does_not_wait_for_the_interval_and_sent_is_stored(alice):
    workflow = await sync_to_async(save_workflow)(alice, FOREACH)
    run = await sync_to_async(create_run)(workflow, alice, {})
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(f"run.{run.pk}", channel)
    recorder = RunRecorder(run.pk, interval=30.0)  # one frame, then only the run's end may skip the wait
    await recorder.start()
    result = await engine.Runner().run(engine.plan(engine.load(FOREACH)), {}, recorder, run_id=str(run.pk))
    await asyncio.wait_for(recorder.close(), 10)
    assert result.status == "succeeded"
    got = await frames_of_run(layer, channel)
    sent = [event for frame in got for event in json.loads(frame["text"])["events"]]
    assert sent[-1]["type"] == "run.finished"
    # the first frame at once, then nothing for 30 s but what comes once the run has ended
    assert len(got) <= 5, len(got)
    stored = {seq: data async for seq, data in RunEvent.objects.filter(run=run).values_list("seq", "data")}
    assert [e["seq"] for e in sent] == sorted(stored), "what was sent is exactly what was stored"
    assert all(stored[e["seq"]] == e for e in sent)
    assert await StepRun.objects.filter(run=run, path__contains="[", status="succeeded").acount() == 300


async def test_a_foreach_leaves_no_per_item_state_in_the_recorder(alice):
    workflow = await sync_to_async(save_workflow)(alice, FOREACH)
    run = await sync_to_async(create_run)(workflow, alice, {})
    recorder = RunRecorder(run.pk, send=False)
    await recorder.start()
    await engine.Runner().run(engine.plan(engine.load(FOREACH)), {}, recorder, run_id=str(run.pk))
    await recorder.close()
    assert recorder.attempts == {} and recorder.open_rows == set()
    assert recorder.pending == [] and recorder.outbox == []


def test_json_is_strict_and_falls_back_for_what_orjson_writes_its_own_way():
    assert dumps({"a": float("nan"), "b": [float("inf"), 1.5]}) == '{"a":null,"b":[null,1.5]}'
    assert json.loads(dumps({"big": 2**70})) == {"big": 2**70}  # over 64 bits: the json module's way
    when = {"when": dt.datetime(2026, 1, 1)}  # orjson would write it its own way: lenient, as before
    assert json.loads(dumps(when)) == json.loads(json.dumps(lenient(when), default=str)) == {"when": "2026-01-01T00:00:00"}
    assert json.loads(dumps({1: "x"})) == {"1": "x"}
    assert json.loads(dumps("\ud800")) == "\ud800"  # a lone surrogate: escaped by the json module
    assert json.loads(dumps({"é": "ü"})) == {"é": "ü"}


def test_caps_and_frames_count_bytes_not_characters():
    value, note = cap("é" * 10, limit=15)  # 10 characters, 20 bytes of UTF-8 (and the quotes)
    assert note and len(value["preview"].encode()) <= 15
    assert cap("e" * 10, limit=15) == ("e" * 10, "")
    big = [(seq, dumps({"seq": seq, "text": "é" * 50_000})) for seq in range(1, 4)]
    parts = list(frames_of(big))
    assert [(first, last) for first, last, _ in parts] == [(1, 2), (3, 3)]  # 256 KiB of bytes a frame
    assert all(len(text.encode()) <= 2 * 256 * 1024 for _, _, text in parts)
    assert list(frames([{"seq": 1, "type": "x"}])) == [(1, 1, '{"type": "events", "seq": 1, "events": [{"seq":1,'
                                                               '"type":"x"}]}')]
