"""Websocket consumers. Thin: database access goes through database_sync_to_async helpers.

``ws/runs/<id>/``: a snapshot (``{"type": "snapshot", "seq": N, "run", "steps"}``), then
every later event with its ``seq``, in frames ``{"type": "events", "seq": last, "events": [...]}``
(as the recorder writes them, at most one every ``WORKFLOW_STREAM_INTERVAL``: ~33 a second). ``?after=N`` replays what came after
N instead of the snapshot: no gaps, no duplicates. Only ``cancel`` and ``ping`` are accepted.
The run's owner and staff may watch and cancel it; the approvers of one of its pending
approvals may watch it (builder/approvals.py), not cancel it.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import connection, transaction

from . import approvals, execution, leases
from .models import Run, RunEvent, StepRun
from .frames import STAFF_GROUP, dumps, group_name, owner_group
from .origins import origin_text

log = logging.getLogger(__name__)
NOT_YOURS = 4403
NOT_LOGGED_IN = 4401
REPLAY_FRAME = 1000  # events per frame when replaying
BAND_SAMPLES = 400  # finish times per foreach or body step in a snapshot (a sample keeps the shape)
UNDER_WAY = {"running", "retrying"}
OPEN_ITEMS = 5000  # item steps still under way named in a snapshot (bounded by the foreach's concurrency)
ITEM_INDEX = re.compile(r"\[\d+\]")


@database_sync_to_async
def _find_run(user, run_id: int) -> Run | None:
    """The run if ``user`` may watch it: theirs, staff, or asked to decide one of its approvals."""
    return approvals.visible_runs(user, Run.objects.select_related("workflow", "version")).filter(pk=run_id).first()


@database_sync_to_async
def _request_cancel(run_id: int) -> None:
    leases.request_cancel(run_id)


@database_sync_to_async
def _snapshot(run_id: int) -> dict:
    # one read transaction: the rows and ``last_seq`` must come from the same committed batch, or
    # events the rows already count would be replayed after the snapshot and counted twice
    # (on SQLite the settings make it IMMEDIATE: writes wait the few ms it takes; on PostgreSQL
    # READ COMMITTED sees each statement's own moment, so the transaction is REPEATABLE READ: one
    # moment for all its reads, and writers never wait)
    with transaction.atomic():
        _repeatable_read()
        return _snapshot_now(run_id)


def _repeatable_read() -> None:
    """Make the transaction just begun read one snapshot of the database (PostgreSQL; SQLite's
    transactions already do). It must come before the transaction's first query, so an atomic
    block inside another transaction (a test's) leaves that transaction as it is."""
    if connection.vendor != "postgresql" or len(connection.atomic_blocks) != 1:
        return
    with connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def _snapshot_now(run_id: int) -> dict:
    run = Run.objects.select_related("workflow", "version").get(pk=run_id)
    steps = {}
    for row in StepRun.objects.filter(run_id=run_id).exclude(path__contains="[").order_by("id"):
        steps[row.path] = {"status": row.status, "attempts": row.attempt, "kind": row.kind, "uses": row.uses,
                           "error": row.error, "duration_ms": row.duration_ms,
                           "started_at": row.started_at.timestamp() if row.started_at else None,
                           "finished_at": row.finished_at.timestamp() if row.finished_at else None}
    progress = {}
    final = {}  # a foreach item step's last attempt, counted per body step ("per_file.download")
    for path, status, finished in (StepRun.objects.filter(run_id=run_id, path__contains="[").order_by("id")
                                   .values_list("path", "status", "finished_at")):
        final[path] = (status, finished)
    items: dict[str, dict[str, int]] = {}
    times: dict[str, list[float]] = {}  # when items' steps finished: the timeline's density bands
    for path, (status, finished) in final.items():
        template = ITEM_INDEX.sub("", path)
        counts = items.setdefault(template, {})
        counts[status] = counts.get(status, 0) + 1
        if finished is not None:
            stamp = finished.timestamp()
            times.setdefault(template, []).append(stamp)
            times.setdefault(path[:path.index("[")], []).append(stamp)
    # the item steps under way, by path: their later events move them out of these counts
    open_items = dict(itertools.islice(((path, status) for path, (status, _) in final.items()
                                        if status in UNDER_WAY), OPEN_ITEMS))
    item_times = {key: [round(t, 3) for t in sorted(values)[::max(1, len(values) // BAND_SAMPLES)]]
                  for key, values in times.items()}
    for event in RunEvent.objects.filter(run_id=run_id, type="foreach.progress").order_by("seq"):
        progress[event.data["path"]] = event.data
    return {"type": "snapshot", "seq": run.last_seq, "steps": steps, "progress": progress, "items": items,
            "open_items": open_items, "item_times": item_times, "run": {
        "id": run.pk, "workflow": run.workflow.name, "workflow_id": run.workflow_id, "version": run.version.number,
        "status": run.status, "error": run.error, "outputs": _small(run.outputs), "summary": run.summary,
        "started_at": run.started_at.timestamp() if run.started_at else None,
        "finished_at": run.finished_at.timestamp() if run.finished_at else None,
        "duration_ms": run.duration_ms, "origin": run.origin, "origin_detail": run.origin_detail,
        "origin_text": origin_text(run.origin, run.origin_detail)}}


def _small(value, limit: int = 64 * 1024):
    """A value for the snapshot, or None when its JSON is over ``limit`` (the API has it all)."""
    return value if len(json.dumps(value, default=str)) <= limit else None


@database_sync_to_async
def _events_after(run_id: int, after: int) -> list[dict]:
    return [e.data for e in RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")]


class _StrictJson:
    """Every frame is strict JSON (browsers refuse a bare NaN): see ``frames.dumps``."""

    @classmethod
    async def encode_json(cls, content):
        return dumps(content)


class RunConsumer(_StrictJson, AsyncJsonWebsocketConsumer):
    """Streams one run's events to its owner (or staff)."""

    async def connect(self):
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        self.last_seq = 0
        self.group = None
        self.may_cancel = False
        user = self.scope.get("user")
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=NOT_LOGGED_IN)
            return
        run = await _find_run(user, self.run_id)
        if run is None:
            await self.close(code=NOT_YOURS)
            return
        self.may_cancel = user.is_staff or run.workflow.owner_id == user.pk  # an approver only watches
        self.group = group_name(self.run_id)
        # Join first, then read the database: a run's events are sent only once written, so
        # nothing falls between (what both hold is sent once, by seq)
        await self.channel_layer.group_add(self.group, self.channel_name)
        after = _after(self.scope)
        if after is None:
            snapshot = await _snapshot(self.run_id)
            self.last_seq = snapshot["seq"]
            await self.send_json(snapshot)
            stored = []
        else:
            self.last_seq = after
            stored = await _events_after(self.run_id, after)
        await self._send_events(stored)

    async def disconnect(self, code):
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong", "seq": self.last_seq})
        elif kind == "cancel" and self.may_cancel:
            if not execution.cancel_here(self.run_id):  # elsewhere, queued or waiting: builder/leases.py
                await _request_cancel(self.run_id)
            await self.send_json({"type": "cancelling", "seq": self.last_seq})
        else:
            log.warning("run %s: ignored a client message of type %r", self.run_id, kind)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            await super().receive(text_data, bytes_data, **kwargs)
        except ValueError:
            log.warning("run %s: ignored a message that is not JSON", self.run_id)

    async def run_events(self, message):
        """A batch from the run's recorder (group message type ``run.events``), sent as it came."""
        if message["first"] > self.last_seq:
            self.last_seq = message["last"]
            await self.send(text_data=message["text"])
        elif message["last"] > self.last_seq:  # overlaps what the snapshot or replay covered
            await self._send_events(json.loads(message["text"])["events"])

    async def _send_events(self, events):
        fresh = [e for e in events if e["seq"] > self.last_seq]
        for start in range(0, len(fresh), REPLAY_FRAME):
            frame = fresh[start:start + REPLAY_FRAME]
            self.last_seq = frame[-1]["seq"]
            await self.send_json({"type": "events", "seq": self.last_seq, "events": frame})


class WorkflowsConsumer(_StrictJson, AsyncJsonWebsocketConsumer):
    """``ws/workflows/``: the user's runs starting and ending (staff: everyone's), for the list page.

    Sends ``{"type": "run.status", "workflow_id", "run_id", "status", "duration_ms", "origin"}``.
    """

    async def connect(self):
        user = self.scope.get("user")
        self.groups_joined = []
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=NOT_LOGGED_IN)
            return
        self.groups_joined = [STAFF_GROUP if user.is_staff else owner_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def run_status(self, message):
        await self.send_json(message)


def _after(scope) -> int | None:
    values = parse_qs(scope.get("query_string", b"").decode()).get("after")
    if not values:
        return None
    try:
        return max(int(values[0]), 0)
    except ValueError:
        return None
