"""The recorder's database side: a batch of events as one transaction (builder/recorder.py).

``RowsMixin`` is the part of ``RunRecorder`` that turns a batch into StepRun rows (created, or
updated by path and attempt), RunEvent rows and the run's own state. It keeps only what a
running step needs: the rows still open and the attempt of each step under way; a step's
entry goes once it has ended, so a foreach of a million items holds no per-item state.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from django.conf import settings
from django.db import connection, transaction

from engine.values import lenient

from . import approvals
from .critical_rows import whole_run_path
from .frames import cap, dumps, plain
from .frames import when as _when
from .models import Run, RunEvent, StepRun

#: events after which a step's row is closed (a retry's ``step.retrying`` is not: a start follows)
ENDS = frozenset({"step.succeeded", "step.failed", "step.skipped", "step.cancelled"})


class RowsMixin:
    """Needs ``run_id``, ``resumed``, ``fatal``, ``stored_rows``, ``open_rows``, ``attempts``."""

    # Plain executemany: the ORM's bulk_create costs ~60 µs a row, this a few.
    def _write(self, batch, kept, data, dropped=()) -> list[tuple[int, str]]:
        """Store a batch; return the kept events' JSON texts ``(seq, text)``, stored and sent alike."""
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
                texts = [(d["seq"], dumps(d)) for d in data]  # one text an event: the row's and the frame's
                cursor.executemany(
                    f"INSERT INTO {RunEvent._meta.db_table} (run_id, seq, type, data) VALUES (%s, %s, %s, %s)",
                    [(self.run_id, seq, d["type"], db.text(d, text)) for d, (seq, text) in zip(data, texts)])
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
                self.asked_approval = True
            # only a run that waited (here, or in an earlier part: resumed) has approvals to close:
            # two UPDATEs less at the end of every other run (record_waiting makes every Approval)
            if status is not None and (self.resumed or getattr(self, "asked_approval", False)):
                approvals.settle(self.run_id, status)
        self.open_rows.difference_update(updates)
        for key, row in creates.items():
            if row["status"] == "running":
                self.open_rows.add(key)
        self.rows_written += len(data) + len(creates) + len(updates)
        self.writes += 1
        return texts

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
        if kind in ENDS:  # nothing of this step is written again but a compensation (by path)
            self.attempts.pop(path, None)
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
        """A succeeded step undone by a rollback: its row says so, by path (the UPDATE comes after
        this batch's own INSERTs and UPDATEs in the transaction, so a row of this batch is one too)."""
        undone.append(event.path)


def _row(step_id, kind, uses, status, inputs, started) -> dict:
    return {"step_id": step_id, "kind": kind, "uses": uses, "status": status, "inputs": inputs, "output": None,
            "output_note": "", "error": "", "started_at": started, "finished_at": None, "duration_ms": None}


_EPOCH = dt.datetime(1970, 1, 1)


class _Db:
    """Values as the database backend wants them in raw SQL."""

    def __init__(self):
        self.json_field = StepRun._meta.get_field("output")
        self.ops = connection.ops
        self.sqlite = connection.vendor == "sqlite"
        # SQLite keeps a datetime as the text of its naive UTC value (settings.USE_TZ)
        self.utc_text = self.sqlite and settings.USE_TZ and connection.timezone_name == "UTC"

    def json(self, value):
        if value is None:
            return None
        return self.text(value, dumps(value))

    def text(self, value, text: str):
        """``value`` whose strict JSON text is ``text``: SQLite stores that text (what the JSONField
        would store, dumped once); another backend gets the value its own way, made lenient
        where strict JSON cannot hold it."""
        if self.sqlite:
            return text
        try:
            json.dumps(value, allow_nan=False)
        except (ValueError, TypeError, RecursionError):
            value = lenient(value)
        return self.json_field.get_db_prep_save(value, connection)

    def when(self, ts: float | None):
        if ts is None:
            return None
        if self.utc_text:  # what adapt_datetimefield_value makes of it, without its three conversions
            return str(_EPOCH + dt.timedelta(seconds=ts))
        return self.ops.adapt_datetimefield_value(_when(ts))
