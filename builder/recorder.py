"""The builder's event sink: writes events and step rows in batches, then streams them.

The engine calls ``emit`` on the loop. Pending events are written soon after (``WRITE_DELAY``:
what a loop pass emits is gathered), or at once when a step waits for them to be stored
(``RunRecorder.stored``) or the run has finished: one transaction for the RunEvent rows, the
StepRun rows and the run's own state (builder/recorder_rows.py). A write goes on while the
previous one is still under way only by joining the next (a group commit), so a busy run's
batches grow instead of its writes queueing. What was written goes out as a channel-layer
message (a frame of at most ``frames.FRAME_BYTES``) for the run's group as soon as it is
written, but at most one every ``interval`` seconds (the run's last one at once): so a run
sends at most 1/interval messages a second however many items it has, and a quiet run's
events are not held back. Inside a batch superseded events are dropped (see
``frames.coalesce``), terminal states never.

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
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from . import approvals
from .frames import STAFF_GROUP, coalesce, dumps, event_data, frames, frames_of, group_name, owner_group
from .models import Run, RunEvent
from .recorder_rows import RowsMixin

log = logging.getLogger(__name__)
WRITE_TRIES = 3
WRITE_PAUSE = 0.2  # seconds before the second try; doubled before each later one
WRITE_DELAY = 0.005  # seconds from a first pending event to its write, unless something waits for it


class RunRecorder(RowsMixin):
    """A sink for one run: writes each batch to the database, then streams it to the run's group.

    Events are written before they are sent, so whoever sees an event and asks the API or a
    snapshot reads it. Two things write: the writer task, soon after events are emitted, and
    the engine's barrier (``stored``), which a step awaits before its action runs, so a step's
    start and every result before it are in the database before its side effect begins (what a
    takeover goes on from: a step that started is retried as its next attempt, one that ended
    never runs again). Concurrent barriers share one write (a group commit). The sender task
    sends exactly the events written since its last frame, at most one frame an ``interval``.
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
        self.outbox: list[tuple] = []  # (event, its data, (seq, its JSON text)) written, not yet sent
        self.emitted_seq = 0
        self.stored_seq = 0
        self.lock = asyncio.Lock()  # one write at a time, in seq order
        self.wake = asyncio.Event()  # the writer: something is pending
        self.ready = asyncio.Event()  # the sender: something was written
        self.hurry = asyncio.Event()  # the sender: no more waiting for the interval (the run ended)
        self.closed = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.tasks: list[asyncio.Task] = []
        self.last_sent = float("-inf")
        self.open_rows: set[tuple[str, int]] = set()  # (path, attempt) of saved rows still running
        self.attempts: dict[str, int] = {}  # path -> its latest attempt, while the step is under way
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
            self.hurry.set()  # the last frame goes out as soon as it is written
            self.wake.set()
        elif self.timer is None and self.loop is not None:
            self.timer = self.loop.call_later(WRITE_DELAY, self._due)

    def _due(self) -> None:
        self.timer = None
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
        self.loop = asyncio.get_running_loop()
        self.tasks = [self.loop.create_task(self._writer()), self.loop.create_task(self._sender())]

    async def close(self) -> None:
        """Write and send what is left, then stop."""
        self.closed = True
        self.wake.set()
        self.hurry.set()
        if self.tasks:
            await asyncio.gather(*self.tasks)
        else:
            await self.flush()

    async def _writer(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if self.pending:
                try:
                    async with self.lock:
                        await self._write_pending()
                except Exception:  # noqa: BLE001 - a failed batch must not kill the run's stream
                    log.exception("run %s: storing events failed", self.run_id)
            if self.closed and not self.pending:
                self.ready.set()  # the sender sends the rest and stops
                return

    async def _sender(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.ready.wait()
            self.ready.clear()
            wait = self.last_sent + self.interval - loop.time()
            if wait > 0 and not self.hurry.is_set():  # at most a frame an interval: what comes meanwhile joins it
                try:
                    await asyncio.wait_for(self.hurry.wait(), wait)
                except TimeoutError:
                    pass
            if self.outbox:
                written, self.outbox = self.outbox, []
                self.last_sent = loop.time()
                try:
                    await self._send([item for _, _, item in written], written[0][1], written[-1][1])
                except Exception:  # noqa: BLE001 - it is stored: a monitor catches up on reconnect
                    log.exception("run %s: streaming events failed", self.run_id)
            if self.closed and self.tasks[0].done() and not self.outbox:
                return

    async def flush(self) -> None:
        """Write what is pending, then send everything written since the last send."""
        if self.pending:
            async with self.lock:
                await self._write_pending()
        if self.outbox:
            written, self.outbox = self.outbox, []
            await self._send([item for _, _, item in written], written[0][1], written[-1][1])

    async def _write_pending(self) -> None:
        """Under ``lock``: the pending events as one batch, written (then queued to be sent).

        Coalesced with what is written but not yet sent: an unsent event the batch supersedes is
        deleted in the same transaction, so what is stored is exactly what is sent."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        if self.outbox:
            kept = coalesce([event for event, _, _ in self.outbox] + batch)
            alive = set(map(id, kept))
            dropped = [event.seq for event, _, _ in self.outbox if id(event) not in alive]
            if dropped:
                self.outbox = [item for item in self.outbox if id(item[0]) in alive]
            kept = [event for event in batch if id(event) in alive]
        else:
            kept, dropped = coalesce(batch), []
        data = [event_data(e) for e in kept]
        texts = await self._write_tried(batch, kept, data, dropped)
        self.stored_seq = batch[-1].seq
        if texts is None:  # not stored (the run ends failed): its watchers still see what happened
            texts = [(d["seq"], dumps(d)) for d in data]
        self.outbox.extend(zip(kept, data, texts))
        self.ready.set()

    async def _send(self, texts: list[tuple[int, str]], first: dict, last: dict) -> None:
        """Frames of the events' texts for the run's group; a start or an end for the lists."""
        if self.layer is None:
            return
        # written once for every watcher (the in-memory layer deep-copies what it carries)
        for first_seq, last_seq, text in frames_of(texts):
            await self.layer.group_send(group_name(self.run_id), {
                "type": "run.events", "first": first_seq, "last": last_seq, "text": text})
        if self.owner_id is not None:
            # run.started is a run's first event and run.finished its last: no need to scan the batch
            for event in {id(e): e for e in (first, last)}.values():
                if event["type"] in ("run.started", "run.finished"):
                    await self._send_status(event)

    async def _send_status(self, event: dict) -> None:
        """A run started or ended: tell the owner's (and staff's) open workflow lists."""
        status = {"type": "run.status", "workflow_id": self.workflow_id, "run_id": self.run_id,
                  "status": "running" if event["type"] == "run.started" else event["status"],
                  "duration_ms": event.get("duration_ms"), "origin": self.origin}
        for group in (owner_group(self.owner_id), STAFF_GROUP):
            await self.layer.group_send(group, status)

    async def _write_tried(self, batch, kept, data, dropped=()) -> list | None:
        """Write a batch, trying again after a pause; give up by ending the run ``failed``.
        Returns the events' texts, or None when the batch could not be stored."""
        pause = WRITE_PAUSE
        for attempt in range(1, WRITE_TRIES + 1):
            try:
                return await sync_to_async(self._write)(batch, kept, data, dropped)
            except Exception as exc:  # noqa: BLE001 - any database error: try again, then fail the run
                if attempt < WRITE_TRIES:
                    log.warning("run %s: writing events failed (try %d), trying again: %s", self.run_id, attempt, exc)
                    await asyncio.sleep(pause)
                    pause *= 2
                    continue
                log.exception("run %s: events could not be stored", self.run_id)
                await self._give_up(f"the run's events could not be stored: {type(exc).__name__}: {exc}")
        return None

    async def _give_up(self, message: str) -> None:
        message = dumps(message)[1:-1][:2000]  # plain text, whatever the error held
        first = self.fatal is None
        self.fatal = self.fatal or message
        await sync_to_async(_mark_failed)(self.run_id, self.fatal)
        if first and self.on_fatal is not None:
            self.on_fatal()


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
