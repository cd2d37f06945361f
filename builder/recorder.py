"""The builder's event sink: writes events and step rows in batches, then streams them.

The engine calls ``emit`` on the loop; the pending events become a batch every ``interval``
seconds, or sooner when a step waits for them to be stored (``RunRecorder.stored``): one
transaction for the RunEvent rows, the StepRun rows and the run's own state. What was written
goes out as one channel-layer message (a frame of at most ``frames.FRAME_BYTES``) an interval for the
run's group. So a run sends about 1/interval messages a second however many items it has;
inside a batch superseded events are dropped (see ``frames.coalesce``), terminal states never.

No batch is dropped silently: a write that fails is tried again (``WRITE_TRIES`` times, with
a pause between); one that still fails stops the run (``on_fatal``), and the run ends
``failed`` with the error, written with nothing but its status (a run never stays
``running`` because of what it holds). A ``step.waiting`` event stores the step ``waiting`` and
its Approval row in its batch's transaction (builder/approvals.py); a run that ends ``waiting``
has its lease cleared in the same write (it holds nothing until someone decides). Every JSON
text made here is strict JSON (no NaN, no Infinity): a value that would need them is stored and
sent in ``engine``'s lenient form.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection, transaction

from engine.values import lenient

from . import approvals
from .critical_rows import whole_run_path
from .frames import when as _when
from .frames import (STAFF_GROUP, StrictEncoder, cap, coalesce, dumps, event_data, frames, group_name, owner_group,
                     plain)
from .models import Run, RunEvent, StepRun

log = logging.getLogger(__name__)
WRITE_TRIES = 3
WRITE_PAUSE = 0.2  # seconds before the second try; doubled before each later one


class RunRecorder:
    """A sink for one run: writes each batch to the database, then streams it to the run's group.

    Events are written before they are sent, so whoever sees an event and asks the API or a
    snapshot reads it. Two things write: the stream, every ``interval`` seconds, and the engine's
    barrier (``stored``), which a step awaits before its action runs, so a step's start and every
    result before it are in the database before its side effect begins (what a takeover goes on
    from: a step that started is retried as its next attempt, one that ended never runs again).
    Concurrent barriers share one write (a group commit); sending stays one frame an interval,
    with exactly the events written since the last one.
    """

    def __init__(self, run_id: int, *, interval: float = 0.1, send: bool = True,
                 owner_id: int | None = None, workflow_id: int | None = None, on_fatal=None,
                 stored_rows: set | None = None, resumed: bool = False, origin: str = ""):
        self.run_id = run_id
        # a run taken over from a stopped process: the (path, attempt) rows it has already, and
        # its first start time stays
        self.stored_rows = stored_rows or set()
        self.stored_paths = {path for path, _ in self.stored_rows}
        self.resumed = resumed
        self.on_fatal = on_fatal  # called once when a batch cannot be stored: stop the run
        self.fatal: str | None = None
        self.owner_id, self.workflow_id = owner_id, workflow_id  # for the live workflow list
        self.origin = origin  # where the run came from, in words (the list's line under its status)
        self.interval = interval
        self.layer = get_channel_layer() if send else None
        self.pending: list = []  # emitted, not yet written
        self.outbox: list[tuple] = []  # (event, its data) written, not yet sent
        self.emitted_seq = 0
        self.stored_seq = 0
        self.lock = asyncio.Lock()  # one write at a time, in seq order
        self.wake = asyncio.Event()
        self.closed = False
        self.task: asyncio.Task | None = None
        self.open_rows: set[tuple[str, int]] = set()  # (path, attempt) of saved rows still running
        self.attempts: dict[str, int] = {}  # path -> its latest attempt
        self.rows_written = 0
        self.writes = 0

    # -- the sink ------------------------------------------------------------------------------
    def emit(self, event) -> None:
        if self.fatal is not None and event.type == "run.finished":
            event = dataclasses.replace(event, status="failed", error=self.fatal)
        elif event.type == "step.succeeded" and event.path in self.stored_paths and event.reused:
            return  # a takeover reusing a stored step: its row and events are there already
        self.pending.append(event)
        self.emitted_seq = event.seq
        if event.type == "run.finished":
            self.wake.set()

    async def stored(self) -> None:
        """Return once every event emitted so far is in the database (or storing it failed).

        The write is shielded: a step cancelled while it waits (fail_fast, a cancel) must not
        cancel the write of a batch that holds other steps' events too."""
        target = self.emitted_seq
        if self.stored_seq >= target:
            return
        await asyncio.shield(self._write_up_to(target))

    async def _write_up_to(self, target: int) -> None:
        async with self.lock:
            if self.stored_seq < target:
                await self._write_pending()

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        """Write and send what is left, then stop."""
        self.closed = True
        self.wake.set()
        if self.task is not None:
            await self.task
        else:
            await self.flush()

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), self.interval)
            except TimeoutError:
                pass
            self.wake.clear()
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - a failed batch must not kill the run's stream
                log.exception("run %s: streaming events failed", self.run_id)
            if self.closed and not self.pending:
                return

    async def flush(self) -> None:
        """Write what is pending, then send everything written since the last send."""
        if self.pending:
            async with self.lock:
                await self._write_pending()
        if self.outbox:
            written, self.outbox = self.outbox, []
            await self._send([data for _, data in written])

    async def _write_pending(self) -> None:
        """Under ``lock``: the pending events as one batch, written (then queued to be sent).

        Coalesced with what is written but not yet sent: an unsent event the batch supersedes is
        deleted in the same transaction, so what is stored is exactly what is sent."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        kept = coalesce([event for event, _ in self.outbox] + batch)
        alive = set(map(id, kept))
        dropped = [event.seq for event, _ in self.outbox if id(event) not in alive]
        if dropped:
            self.outbox = [item for item in self.outbox if id(item[0]) in alive]
        kept = [event for event in batch if id(event) in alive]
        data = [event_data(e) for e in kept]
        await self._write_tried(batch, kept, data, dropped)
        self.stored_seq = batch[-1].seq
        self.outbox.extend(zip(kept, data))

    async def _send(self, data: list[dict]) -> None:
        if self.layer is None:
            return
        # serialised once for every watcher (the in-memory layer deep-copies what it carries)
        for first, last, text in frames(data):
            await self.layer.group_send(group_name(self.run_id), {
                "type": "run.events", "first": first, "last": last, "text": text})
        if self.owner_id is not None and data:
            # run.started is a run's first event and run.finished its last: no need to scan the batch
            for event in {id(e): e for e in (data[0], data[-1])}.values():
                if event["type"] in ("run.started", "run.finished"):
                    await self._send_status(event)

    async def _send_status(self, event: dict) -> None:
        """A run started or ended: tell the owner's (and staff's) open workflow lists."""
        status = {"type": "run.status", "workflow_id": self.workflow_id, "run_id": self.run_id,
                  "status": "running" if event["type"] == "run.started" else event["status"],
                  "duration_ms": event.get("duration_ms"), "origin": self.origin}
        for group in (owner_group(self.owner_id), STAFF_GROUP):
            await self.layer.group_send(group, status)

    async def _write_tried(self, batch, kept, data, dropped=()) -> None:
        """Write a batch, trying again after a pause; give up by ending the run ``failed``."""
        pause = WRITE_PAUSE
        for attempt in range(1, WRITE_TRIES + 1):
            try:
                await sync_to_async(self._write)(batch, kept, data, dropped)
                return
            except Exception as exc:  # noqa: BLE001 - any database error: try again, then fail the run
                if attempt < WRITE_TRIES:
                    log.warning("run %s: writing events failed (try %d), trying again: %s", self.run_id, attempt, exc)
                    await asyncio.sleep(pause)
                    pause *= 2
                    continue
                log.exception("run %s: events could not be stored", self.run_id)
                await self._give_up(f"the run's events could not be stored: {type(exc).__name__}: {exc}")

    async def _give_up(self, message: str) -> None:
        message = dumps(message)[1:-1][:2000]  # plain text, whatever the error held
        first = self.fatal is None
        self.fatal = self.fatal or message
        await sync_to_async(_mark_failed)(self.run_id, self.fatal)
        if first and self.on_fatal is not None:
            self.on_fatal()

    # -- the database, in one transaction a batch ---------------------------------------------
    # Plain executemany: the ORM's bulk_create costs ~60 µs a row, this a few.
    def _write(self, batch, kept, data, dropped=()) -> None:
        creates: dict[tuple[str, int], dict] = {}
        updates: dict[tuple[str, int], dict] = {}
        undone: list[str] = []  # paths of stored succeeded steps a rollback compensated
        waiting = []  # step.waiting events: their Approval rows
        finished = None
        for event in batch:
            if event.type == "run.finished":
                finished = event
            elif event.type == "step.compensated":
                self._compensated(event, creates, updates, undone)
            elif event.type.startswith("step."):
                self._step(event, creates, updates)
                if event.type == "step.waiting":
                    waiting.append(event)
        db = _Db()
        with transaction.atomic():
            with connection.cursor() as cursor:
                if dropped:  # written, never sent, and superseded by this batch
                    RunEvent.objects.filter(run_id=self.run_id, seq__in=dropped).delete()
                cursor.executemany(
                    f"INSERT INTO {StepRun._meta.db_table} (run_id, path, step_id, kind, uses, attempt, status, "
                    "inputs, output, output_note, error, started_at, finished_at, duration_ms) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [(self.run_id, path, r["step_id"], r["kind"], r["uses"], attempt, r["status"], db.json(r["inputs"]),
                      db.json(r["output"]), r["output_note"], r["error"], db.when(r["started_at"]),
                      db.when(r["finished_at"]), r["duration_ms"]) for (path, attempt), r in creates.items()])
                cursor.executemany(
                    f"UPDATE {StepRun._meta.db_table} SET status = %s, output = %s, output_note = %s, error = %s, "
                    "finished_at = %s, duration_ms = %s WHERE run_id = %s AND path = %s AND attempt = %s",
                    [(r["status"], db.json(r["output"]), r["output_note"], r["error"], db.when(r["finished_at"]),
                      r["duration_ms"], self.run_id, path, attempt) for (path, attempt), r in updates.items()])
                cursor.executemany(
                    f"UPDATE {StepRun._meta.db_table} SET status = 'compensated' "
                    "WHERE run_id = %s AND path = %s AND status = 'succeeded'", [(self.run_id, p) for p in undone])
                if finished is not None and self.resumed:  # the figures of the whole run, not of this part
                    whole = self._whole_run(finished)
                    finished = dataclasses.replace(finished, **whole)
                    for d in data:
                        if d["type"] == "run.finished":
                            d.update(whole)
                cursor.executemany(
                    f"INSERT INTO {RunEvent._meta.db_table} (run_id, seq, type, data) VALUES (%s, %s, %s, %s)",
                    [(self.run_id, d["seq"], d["type"], db.json(d)) for d in data])
            fields = {"last_seq": batch[-1].seq}
            if batch[0].type == "run.started":
                fields.update(status=Run.Status.RUNNING)
                if not self.resumed:
                    fields.update(started_at=_when(batch[0].ts))
            status = None
            if finished is not None:
                outputs, _ = cap(finished.outputs, 256 * 1024)
                status = finished.status if self.fatal is None else Run.Status.FAILED
                fields.update(status=status, outputs=outputs, error=self.fatal or plain(finished.error) or "",
                              summary=finished.summary, duration_ms=finished.duration_ms,
                              finished_at=_when(finished.ts))
                if status == Run.Status.WAITING:  # it holds nothing now: continued when someone decides
                    fields.update(finished_at=None, lease_owner="", lease_expires=None)
            Run.objects.filter(pk=self.run_id).update(**fields)
            if status == Run.Status.WAITING:  # the blocks around a waiting step wait with it
                StepRun.objects.filter(run_id=self.run_id, status="running").update(status="waiting")
            if waiting:
                approvals.record_waiting(self.run_id, waiting)
            if status is not None:
                approvals.settle(self.run_id, status)
        self.open_rows.difference_update(updates)
        for key, row in creates.items():
            if row["status"] == "running":
                self.open_rows.add(key)
        self.rows_written += len(data) + len(creates) + len(updates)
        self.writes += 1

    def _whole_run(self, finished) -> dict:
        """A taken-over run's duration and summary from its first start and every process's
        stored steps (in ``_write``'s transaction, after this batch's rows), by docs/format.md's
        "Run figures": work is every ended action attempt's (a retried one's by its row's times),
        never a cancelled or interrupted one's; the blocks' walls are the unions of their rows'
        intervals. ``speedup`` is the plain ratio: the words call it a speed-up only above 1."""
        from engine.stats import blocks_from_rows

        started = Run.objects.filter(pk=self.run_id).values_list("started_at", flat=True).first()
        wall = max(finished.ts - started.timestamp(), 0.0) if started else finished.duration_ms / 1000
        rows = StepRun.objects.filter(run_id=self.run_id)
        attempts = []  # (path, seconds) of each counted attempt
        ended_ok = ("succeeded", "failed", "compensated")  # an undone step's work was done all the same
        for path, ms, begun, ended in rows.filter(kind="action", status__in=ended_ok).values_list(
                "path", "duration_ms", "started_at", "finished_at").iterator():
            if ms is None and begun is not None and ended is not None:  # retried: step.retrying has no duration
                ms = max((ended - begun).total_seconds(), 0.0) * 1000
            attempts.append((path, (ms or 0.0) / 1000))
        work = sum(seconds for _, seconds in attempts)
        blocks = [(path, kind, begun.timestamp(), ended.timestamp()) for path, kind, begun, ended in
                  rows.filter(kind__in=("parallel", "foreach"), started_at__isnull=False, finished_at__isnull=False)
                  .values_list("path", "kind", "started_at", "finished_at").iterator()]
        summary = {**(finished.summary or {}), "wall_ms": round(wall * 1000, 3), "work_ms": round(work * 1000, 3),
                   "speedup": round(work / wall, 2) if wall > 0 else None,
                   "saved_ms": round(max(work - wall, 0) * 1000, 3),
                   "action_steps": len({path for path, _ in attempts}), "taken_over": True,
                   "blocks": blocks_from_rows(blocks, attempts)}
        summary.pop("critical_path_cut", None)  # this process's part: the whole run's replaces it
        summary.update(whole_run_path(self.run_id, started, finished.ts))  # builder/critical_rows.py
        return {"duration_ms": round(wall * 1000, 3), "summary": summary}

    def _step(self, event, creates: dict, updates: dict) -> None:
        path, kind = event.path, event.type
        if kind == "step.started":
            self.attempts[path] = event.attempt
            creates[(path, event.attempt)] = _row(event.step_id, event.kind, event.uses or "", "running",
                                                  event.inputs, event.ts)
            return
        attempt = max(getattr(event, "attempt", 0) or self.attempts.get(path, 1), 1)
        key = (path, attempt)
        if key in creates:
            row = creates[key]
        elif key in updates:
            row = updates[key]
        elif key in self.open_rows:  # (open_rows changes only once the batch is stored: a retry sees it as was)
            row = updates[key] = _row("", "", "", "running", None, None)
        elif key in self.stored_rows:  # reused after a takeover: its row is stored already
            return
        else:  # ended without a start event of its own: reused, skipped, or failed before starting
            row = creates[key] = _row(path.rsplit(".", 1)[-1], "action", "", "running", None, event.ts)
        if kind == "step.retrying":
            row.update(status="failed", error=plain(event.error), finished_at=event.ts)
        elif kind == "step.succeeded":
            output, note = cap(event.output)
            row.update(status="succeeded", finished_at=event.ts, duration_ms=event.duration_ms, output=output,
                       output_note=note)
        elif kind == "step.failed":
            row.update(status="failed", error=plain(event.error), finished_at=event.ts, duration_ms=event.duration_ms)
        elif kind == "step.skipped":
            row.update(status="skipped", error=plain(event.reason), finished_at=event.ts)
        elif kind == "step.cancelled":
            row.update(status="cancelled", finished_at=event.ts, duration_ms=event.duration_ms)
        elif kind == "step.waiting":  # an approval: no end yet, it goes on when someone decides
            row.update(status="waiting")

    def _compensated(self, event, creates: dict, updates: dict, undone: list) -> None:
        """A succeeded step undone by a rollback: its row (in this batch, or stored) says so."""
        key = (event.path, self.attempts.get(event.path, 1))
        row = creates.get(key) or updates.get(key)
        if row is not None and row["status"] == "succeeded":
            row["status"] = "compensated"
        else:
            undone.append(event.path)


def _row(step_id, kind, uses, status, inputs, started) -> dict:
    return {"step_id": step_id, "kind": kind, "uses": uses, "status": status, "inputs": inputs, "output": None,
            "output_note": "", "error": "", "started_at": started, "finished_at": None, "duration_ms": None}


class _Db:
    """Values as the database backend wants them in raw SQL."""

    def __init__(self):
        self.json_field = StepRun._meta.get_field("output")
        self.ops = connection.ops

    def json(self, value):
        if value is None:
            return None
        try:
            text = json.dumps(value, cls=StrictEncoder)
        except (ValueError, TypeError, RecursionError):
            value = lenient(value)
        else:
            if connection.vendor == "sqlite":
                return text  # what the JSONField would store, dumped once
        return self.json_field.get_db_prep_save(value, connection)

    def when(self, ts: float | None):
        return None if ts is None else self.ops.adapt_datetimefield_value(_when(ts))



def _mark_failed(run_id: int, message: str) -> None:
    """The run's end when its events cannot be stored: its status and error, nothing else."""
    from django.utils import timezone

    if Run.objects.filter(pk=run_id, status__in=(*Run.ACTIVE, Run.Status.WAITING)).update(
            status=Run.Status.FAILED, error=message, finished_at=timezone.now()):
        approvals.settle(run_id, Run.Status.FAILED)


def record_status(run_id: int, status: str, error: str = "", final: bool = True, gap: int = 1) -> None:
    """A change of a run's status made outside a running run (taken over, interrupted, or a
    cancel of a run nobody runs): stored as a ``run.status`` event after the run's last event,
    then sent to its watchers, so an open monitor follows it live. Sync; not in a loop's thread.

    ``gap``: its seq is that far past the last stored one (a takeover leaves room for events the
    stopped process streamed but never stored, which watchers have seen already)."""
    import time

    from asgiref.sync import async_to_sync

    with transaction.atomic():
        seq = (Run.objects.filter(pk=run_id).values_list("last_seq", flat=True).first() or 0) + gap
        data = {"type": "run.status", "seq": seq, "ts": time.time(), "run_id": str(run_id),
                "status": status, "error": error, "final": final}
        RunEvent.objects.create(run_id=run_id, seq=seq, type="run.status", data=data)
        Run.objects.filter(pk=run_id).update(last_seq=seq)
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for first, last, text in frames([data]):
            async_to_sync(layer.group_send)(group_name(run_id), {
                "type": "run.events", "first": first, "last": last, "text": text})
    except Exception as exc:  # noqa: BLE001 - it is stored: a monitor catches up on reconnect
        log.warning("run %s: could not send its status: %s", run_id, exc)
