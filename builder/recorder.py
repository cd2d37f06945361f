"""The builder's event sink: writes events and step rows in batches, then streams them.

The engine calls ``emit`` on the loop; a writer task flushes every ``interval`` seconds (or
when ``max_batch`` events wait): one transaction for the RunEvent rows, the StepRun rows and
the run's own state, then one channel-layer message for the run's group. ``foreach.progress``
events are coalesced to the latest per block in each batch, so a run sends at most about
1/interval messages a second however many items it has; every other event is kept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from .models import Run, RunEvent, StepRun

log = logging.getLogger(__name__)
OUTPUT_CAP = 64 * 1024


def group_name(run_id: int) -> str:
    return f"run.{run_id}"


def _when(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)


def cap(value, limit: int = OUTPUT_CAP):
    """``(value, note)``: the value, or a preview of it with a note when its JSON is too big."""
    text = json.dumps(value, default=str)
    if len(text) <= limit:
        return value, ""
    return {"preview": text[:limit]}, f"output cut: {len(text)} characters, the first {limit} kept"


def event_data(event) -> dict:
    """An event as JSON-safe data, big outputs cut."""
    data = event.as_dict()
    for key in ("output", "outputs", "inputs"):
        if key in data and data[key] is not None:
            data[key], note = cap(data[key], 16 * 1024)
            if note:
                data[f"{key}_note"] = note
    return data


class RunRecorder:
    """A sink for one run: batches to the database, then to the channel layer group."""

    def __init__(self, run_id: int, *, interval: float = 0.1, max_batch: int = 500, send: bool = True):
        self.run_id = run_id
        self.interval = interval
        self.max_batch = max_batch
        self.layer = get_channel_layer() if send else None
        self.pending: list = []
        self.wake = asyncio.Event()
        self.closed = False
        self.task: asyncio.Task | None = None
        self.open_rows: dict[tuple[str, int], StepRun] = {}  # (path, attempt) -> its saved row, until it ends
        self.attempts: dict[str, int] = {}  # path -> its latest attempt
        self.rows_written = 0

    # -- the sink ------------------------------------------------------------------------------
    def emit(self, event) -> None:
        self.pending.append(event)
        if len(self.pending) >= self.max_batch or event.type == "run.finished":
            self.wake.set()

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        """Flush what is left and stop the writer."""
        self.closed = True
        self.wake.set()
        if self.task is not None:
            await self.task

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), self.interval)
            except TimeoutError:
                pass
            self.wake.clear()
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - a failed write must not kill the run's stream
                log.exception("run %s: writing events failed", self.run_id)
            if self.closed and not self.pending:
                return

    async def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        kept = coalesce(batch)
        data = [event_data(e) for e in kept]
        await sync_to_async(self._write)(batch, kept, data)
        if self.layer is not None:
            await self.layer.group_send(group_name(self.run_id), {"type": "run.events", "events": data})

    # -- the database, in one transaction a batch ---------------------------------------------
    def _write(self, batch, kept, data) -> None:
        creates: dict[tuple[str, int], StepRun] = {}
        updates: dict[int, StepRun] = {}
        finished = None
        for event in batch:
            kind = event.type
            if kind == "run.finished":
                finished = event
            if not kind.startswith("step."):
                continue
            self._step(event, creates, updates)
        with transaction.atomic():
            RunEvent.objects.bulk_create([RunEvent(run_id=self.run_id, seq=d["seq"], type=d["type"], data=d)
                                          for d in data])
            made = StepRun.objects.bulk_create(list(creates.values()))
            for key, row in zip(list(creates), made):
                if row.status in ("running", "retrying"):
                    self.open_rows[key] = row
            if updates:
                StepRun.objects.bulk_update(list(updates.values()), [
                    "status", "output", "output_note", "error", "finished_at", "duration_ms"])
            fields = {"last_seq": batch[-1].seq}
            if batch[0].type == "run.started":
                fields.update(status=Run.Status.RUNNING, started_at=_when(batch[0].ts))
            if finished is not None:
                outputs, _ = cap(finished.outputs, 256 * 1024)
                fields.update(status=finished.status, outputs=outputs, error=finished.error or "",
                              summary=finished.summary, duration_ms=finished.duration_ms,
                              finished_at=_when(finished.ts))
            Run.objects.filter(pk=self.run_id).update(**fields)
        self.rows_written += len(data) + len(creates) + len(updates)

    def _step(self, event, creates: dict, updates: dict) -> None:
        path, kind = event.path, event.type
        if kind == "step.started":
            self.attempts[path] = event.attempt
            creates[(path, event.attempt)] = StepRun(
                run_id=self.run_id, path=path, step_id=event.step_id, kind=event.kind, uses=event.uses or "",
                attempt=event.attempt, status="running", inputs=event.inputs, started_at=_when(event.ts))
            return
        attempt = max(getattr(event, "attempt", 0) or self.attempts.get(path, 1), 1)
        row = self._row(path, attempt, creates, updates, event)
        if kind == "step.retrying":
            row.status, row.error, row.finished_at = "failed", event.error, _when(event.ts)
        elif kind == "step.succeeded":
            row.status, row.finished_at, row.duration_ms = "succeeded", _when(event.ts), event.duration_ms
            row.output, row.output_note = cap(event.output)
            if event.reused:
                row.output_note = row.output_note or ""
                row.error = ""
        elif kind == "step.failed":
            row.status, row.error = "failed", event.error
            row.finished_at, row.duration_ms = _when(event.ts), event.duration_ms
        elif kind == "step.skipped":
            row.status, row.error, row.finished_at = "skipped", event.reason, _when(event.ts)
        elif kind == "step.cancelled":
            row.status, row.finished_at, row.duration_ms = "cancelled", _when(event.ts), event.duration_ms
        if row.status not in ("running", "retrying"):
            self.open_rows.pop((path, attempt), None)

    def _row(self, path, attempt, creates, updates, event) -> StepRun:
        key = (path, attempt)
        if key in creates:
            return creates[key]
        row = self.open_rows.get(key)
        if row is not None:
            updates[row.pk] = row
            return row
        step_id = path.rsplit(".", 1)[-1]
        row = creates[key] = StepRun(run_id=self.run_id, path=path, step_id=step_id, kind="action",
                                     attempt=attempt, status="running", started_at=_when(event.ts))
        return row


def coalesce(batch: list) -> list:
    """Drop ``foreach.progress`` events that a later one in the same batch supersedes."""
    last = {}
    for index, event in enumerate(batch):
        if event.type == "foreach.progress":
            last[event.path] = index
    if not last:
        return batch
    return [e for i, e in enumerate(batch) if e.type != "foreach.progress" or last[e.path] == i]
