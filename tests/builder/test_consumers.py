"""The run websocket: snapshot then events, replay with ?after=N, ownership, client messages."""

import asyncio
import time

import pytest
from django.conf import settings
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from builder import execution
from builder.models import Run, RunEvent
from builder.routing import websocket_urlpatterns
from builder.services import create_run, save_workflow
from tests.builder.helpers import finished

pytestmark = pytest.mark.django_db(transaction=True)
APP = URLRouter(websocket_urlpatterns)

PIPELINE = """name: pipeline
inputs: {items: {type: integer, default: 30}}
steps:
  - {id: make, uses: wait, with: {seconds: 0, value: "${inputs.items}"}}
  - id: each
    foreach: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
    concurrency: 4
    steps:
      - {id: w, uses: wait, with: {seconds: 0.02, value: "${item}"}}
  - {id: done, uses: wait, with: {seconds: 0, value: "${len(each)}"}}
"""


async def connect(user, run_id, query=""):
    communicator = WebsocketCommunicator(APP, f"/ws/runs/{run_id}/{query}")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def events_from(communicator, timeout=10):
    """The next frame's events (a frame carries one recorder batch); other frames are skipped."""
    frame = await communicator.receive_json_from(timeout=timeout)
    while frame["type"] in ("pong", "cancelling"):
        frame = await communicator.receive_json_from(timeout=timeout)
    assert frame["type"] == "events" and frame["seq"] == frame["events"][-1]["seq"], frame
    return frame["events"]


async def until_finished(communicator, timeout=10, frames=None):
    received = []
    while True:
        events = await events_from(communicator, timeout)
        if frames is not None:
            frames.append(events)
        received.extend(events)
        if received[-1]["type"] == "run.finished":
            return received


async def new_run(user, text=PIPELINE, inputs=None):
    workflow = await sync_to_async(save_workflow)(user, text)
    return await sync_to_async(create_run)(workflow, user, inputs or {})


async def test_snapshot_then_every_event_in_order(alice):
    run = await new_run(alice)
    ws = await connect(alice, run.pk)
    snapshot = await ws.receive_json_from()
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 0 and snapshot["run"]["status"] == "queued"
    execution.schedule(run.pk)
    events = await until_finished(ws)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), "increasing, no duplicates"
    stored = [seq async for seq in RunEvent.objects.filter(run=run).values_list("seq", flat=True)]
    assert seqs == stored, "the client got exactly what was recorded"
    terminal = {e["path"] for e in events if e["type"] == "step.succeeded"}
    assert {f"each[{i}].w" for i in range(20)} <= terminal and {"make", "each", "done"} <= terminal
    assert events[-1]["status"] == "succeeded" and events[-1]["summary"]["blocks"][0]["path"] == "each"
    await ws.disconnect()


def read_elsewhere(run_id):
    """The run's status and stored event seqs, read on a thread (and connection) of its own."""
    from django.db import connection

    try:
        return (Run.objects.get(pk=run_id).status,
                list(RunEvent.objects.filter(run_id=run_id).values_list("seq", flat=True)))
    finally:
        connection.close()


async def test_whoever_sees_run_finished_reads_the_finished_run_from_the_database(alice, monkeypatch):
    """Batches stream before they are written; the last one is written first, even when writes are slow."""
    from builder.recorder import RunRecorder

    write = RunRecorder._write

    def slow_write(self, *args):
        time.sleep(0.2)
        return write(self, *args)

    monkeypatch.setattr(RunRecorder, "_write", slow_write)
    run = await new_run(alice)
    ws = await connect(alice, run.pk)
    await ws.receive_json_from()
    execution.schedule(run.pk)
    events = await until_finished(ws)
    status, stored_seqs = await asyncio.to_thread(read_elsewhere, run.pk)  # as a request would
    assert status == "succeeded"
    assert stored_seqs == [e["seq"] for e in events], "and every event before it"
    await ws.disconnect()
    await finished(run.pk)


async def test_reconnect_with_after_gets_what_was_missed_without_gaps_or_duplicates(alice):
    run = await new_run(alice)
    first = await connect(alice, run.pk)
    await first.receive_json_from()
    execution.schedule(run.pk)
    seen = []
    while len(seen) < 8:
        seen.extend(await events_from(first, timeout=5))
    await first.disconnect()
    await asyncio.sleep(0.3)  # events go on while nobody watches
    second = await connect(alice, run.pk, f"?after={seen[-1]['seq']}")
    rest = await until_finished(second)
    await second.disconnect()
    stored = [seq async for seq in RunEvent.objects.filter(run=run).values_list("seq", flat=True)]
    assert [e["seq"] for e in seen + rest] == stored


async def test_replay_of_a_finished_run(alice):
    run = await new_run(alice)
    await execution.execute(run.pk)
    ws = await connect(alice, run.pk, "?after=5")
    replayed = await until_finished(ws)
    stored = [seq async for seq in RunEvent.objects.filter(run=run, seq__gt=5).values_list("seq", flat=True)]
    assert [e["seq"] for e in replayed] == stored and replayed[-1]["type"] == "run.finished"
    snapshot_ws = await connect(alice, run.pk)
    snapshot = await snapshot_ws.receive_json_from()
    assert snapshot["run"]["status"] == "succeeded" and snapshot["steps"]["done"]["status"] == "succeeded"
    assert "each[0].w" not in snapshot["steps"] and snapshot["progress"]["each"]["done"] == 20
    assert await snapshot_ws.receive_nothing(timeout=0.2)


async def test_another_users_run_closes_with_4403_and_anonymous_with_4401(alice, bob):
    run = await new_run(alice)
    ws = await connect(bob, run.pk)
    assert (await ws.receive_output())["code"] == 4403
    ws = await connect(AnonymousUser(), run.pk)
    assert (await ws.receive_output())["code"] == 4401
    ws = await connect(alice, 999999)
    assert (await ws.receive_output())["code"] == 4403


async def test_only_ping_and_cancel_are_accepted(alice):
    run = await new_run(alice, "name: slow\nsteps:\n  - {id: a, uses: wait, with: {seconds: 30}}\n")
    ws = await connect(alice, run.pk)
    await ws.receive_json_from()
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from())["type"] == "pong"
    await ws.send_json_to({"type": "step.succeeded", "path": "a"})
    await ws.send_to(text_data="not json")
    await ws.send_json_to(["a list"])
    assert await ws.receive_nothing(timeout=0.2)
    execution.schedule(run.pk)
    while not any(e["type"] == "step.started" for e in await events_from(ws)):
        pass
    await ws.send_json_to({"type": "cancel"})
    messages = await until_finished(ws)
    assert messages[-1]["status"] == "cancelled"
    assert (await finished(run.pk)).status == "cancelled"


async def test_foreach_progress_is_coalesced_but_terminal_states_are_all_delivered(alice):
    items = list(range(600))
    text = ("name: big\nsteps:\n  - {id: src, uses: wait, with: {seconds: 0, value: " + str(items) + "}}\n"
            "  - id: each\n    foreach: ${src}\n    concurrency: 50\n    steps:\n"
            "      - {id: w, uses: wait, with: {seconds: 0.005}}\n")
    run = await new_run(alice, text)
    ws = await connect(alice, run.pk)
    await ws.receive_json_from()
    loop = asyncio.get_running_loop()
    start = loop.time()
    execution.schedule(run.pk)
    frames = []
    events = await until_finished(ws, timeout=20, frames=frames)
    seconds = loop.time() - start
    # at most a frame an interval (settings.WORKFLOW_STREAM_INTERVAL), and the run's last one at once
    assert len(frames) <= seconds / settings.WORKFLOW_STREAM_INTERVAL + 5, (len(frames), seconds)
    progress = [e for e in events if e["type"] == "foreach.progress"]
    assert len(progress) <= len(frames)
    done = {e["path"] for e in events if e["type"] == "step.succeeded"}
    assert all(f"each[{i}].w" in done for i in items)
    assert progress[-1]["done"] == 600
    run = await Run.objects.aget(pk=run.pk)
    assert await run.steps.filter(path__startswith="each[").acount() == 600


async def list_socket(user):
    communicator = WebsocketCommunicator(APP, "/ws/workflows/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def test_the_workflow_list_socket_tells_the_owner_and_staff_when_runs_start_and_end(alice, bob, staff):
    mine, others, admin = await list_socket(alice), await list_socket(bob), await list_socket(staff)
    run = await new_run(alice)
    execution.schedule(run.pk)
    for ws in (mine, admin):
        started = await ws.receive_json_from(timeout=10)
        assert started == {"type": "run.status", "workflow_id": run.workflow_id, "run_id": run.pk,
                           "status": "running", "duration_ms": None, "origin": "manual"}
        ended = await ws.receive_json_from(timeout=10)
        assert ended["status"] == "succeeded" and ended["duration_ms"] > 0
    assert await others.receive_nothing(timeout=0.3), "another user hears nothing of alice's runs"
    anonymous = WebsocketCommunicator(APP, "/ws/workflows/")
    anonymous.scope["user"] = AnonymousUser()
    await anonymous.connect()
    assert (await anonymous.receive_output())["code"] == 4401
    for ws in (mine, others, admin):
        await ws.disconnect()


async def test_a_snapshot_taken_mid_run_counts_exactly_the_events_up_to_its_seq(alice, monkeypatch):
    """The snapshot reads the run and its rows in one transaction, so its counts agree with its seq."""
    from builder import consumers

    real = consumers.StepRun

    class Slow:  # the rows are read a moment after the run: batches commit in between unless one transaction holds them
        class objects:
            @staticmethod
            def filter(*args, **kwargs):
                time.sleep(0.06)
                return real.objects.filter(*args, **kwargs)

    def snapshot_elsewhere(run_id):
        from django.db import connection

        try:
            return consumers._snapshot.func(run_id)
        finally:
            connection.close()

    monkeypatch.setattr(consumers, "StepRun", Slow)
    text = ("name: many\nsteps:\n  - id: each\n    foreach: " + str(list(range(400))) + "\n    concurrency: 10\n    steps:\n"
            "      - {id: w, uses: wait, with: {seconds: 0.02}}\n")
    run = await new_run(alice, text)
    execution.schedule(run.pk)
    snapshots = []
    while not (await Run.objects.aget(pk=run.pk)).finished or not snapshots:
        snapshots.append(await asyncio.to_thread(snapshot_elsewhere, run.pk))
    await finished(run.pk)
    ends = [seq async for seq, data in RunEvent.objects.filter(run=run, type="step.succeeded")
            .values_list("seq", "data") if "[" in data["path"]]
    assert len(ends) == 400
    mid = [s for s in snapshots if 0 < s["items"].get("each.w", {}).get("succeeded", 0) < 400]
    assert len(mid) >= 3, "several snapshots were taken while items ran"
    for snap in snapshots:
        counted = snap["items"].get("each.w", {}).get("succeeded", 0)
        assert counted == sum(1 for seq in ends if seq <= snap["seq"]), "counted twice or missed"
