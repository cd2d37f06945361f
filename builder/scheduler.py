"""Schedules: ``tick(now)`` fires the slots that are due, each exactly once across processes.

The contract (tests/builder/test_scheduler.py and, with two real processes on PostgreSQL,
tests/cluster/test_scheduler_cluster.py):

- Every active schedule Trigger of an enabled workflow has ``next_slot``: the first slot not
  handled yet (UTC). A new (or changed) schedule starts at its first slot after it was saved
  (at most two intervals before ``now``: a slot between the save and the first tick fires); a
  trigger turned off forgets its ``next_slot`` and starts again at its next slot once on.
- A tick takes the slots from ``next_slot`` up to ``now`` by moving ``next_slot`` past them
  with one conditional UPDATE (``WHERE next_slot = <the value read>``). Only one process can
  win it, so only one handles those slots; the others see 0 rows updated and leave them.
- Each slot it handles is claimed with a unique (trigger, slot) ScheduleSlot row before its
  run is made: the final guard (a second claim is an IntegrityError and fires nothing). The
  row is written ``failed`` ("the scheduler stopped before ...") and turned ``started`` once
  the run exists, so a process killed in between leaves an honest row: a slot fires at most
  once, and exactly once while a scheduler runs.
- A slot older than ``WORKFLOW_SCHEDULER_LATE`` seconds when it is handled was missed (nothing
  ran then). ``catch_up: false``: no run for them; one ``skipped`` row at the latest missed
  slot says "N slots missed while nothing ran (from A to B)". ``catch_up: true``: each missed
  slot runs once, in order, the latest ``CATCH_UP_MAX`` of them; older ones get one
  ``skipped`` row saying how many were left out.
- The run is made by builder.triggers.start, so the workflow's ``concurrency`` applies: a run
  skipped because the workflow was busy makes the slot ``skipped`` with the reason; inputs
  that do not fit make it ``failed`` with the reason.
- Slots are computed by croniter in the trigger's timezone and stored in UTC. Daylight saving:
  a wall time that does not exist (spring) fires at the first minute after the change; a
  wall time that happens twice (autumn) fires once, unless the hour field is ``*`` or
  ``*/n`` (then every real hour fires, as the clock moves).

Embedded mode: ``loop()`` runs in the daphne process (started with the recovery loop);
celery mode: ``manage.py runscheduler`` runs ``run_forever()``. Two of either are safe.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from .models import ScheduleSlot, Trigger

log = logging.getLogger(__name__)
CATCH_UP_MAX = 100  # missed slots run by one catch-up at most (the latest ones)
COUNT_MAX = 10_000  # missed slots counted for a note at most ("10,000 or more")


# -- the clock -------------------------------------------------------------------------------
def clock_now() -> datetime:
    """Now, as the scheduler sees it: the real time, or the fake clock of
    ``WORKFLOW_SCHEDULER_CLOCK`` (tests, the bench): ``{"start": ISO, "at": epoch, "speed": n}``
    is ``start`` at real time ``at``, moving ``speed`` times as fast; every process given the
    same value sees the same time."""
    fake = getattr(settings, "WORKFLOW_SCHEDULER_CLOCK", "")
    if not fake:
        return timezone.now()
    spec = json.loads(fake)
    start = datetime.fromisoformat(spec["start"].replace("Z", "+00:00"))
    return start + timedelta(seconds=(time.time() - float(spec["at"])) * float(spec.get("speed", 1)))


# -- slots -------------------------------------------------------------------------------------
def _zone(spec: dict) -> ZoneInfo:
    return ZoneInfo(spec.get("timezone") or "UTC")


def _by_clock(spec: dict) -> bool:
    """True when every real occurrence of a repeated wall time fires (hour field * or */n)."""
    fields = str(spec.get("schedule", "")).split()
    hour = fields[1] if len(fields) == 5 else ("*" if fields[:1] == ["@hourly"] else "")
    return hour == "*" or hour.startswith("*/")


def _iterate(spec: dict, after: datetime, backwards: bool = False):
    """Slots strictly after (or before) ``after``, as aware local datetimes, forever."""
    from croniter import croniter

    zone = _zone(spec)
    it = croniter(spec["schedule"], after.astimezone(zone))
    by_clock = _by_clock(spec)
    step = it.get_prev if backwards else it.get_next
    while True:
        slot = step(datetime)
        if not by_clock and slot.replace(fold=0).utcoffset() != slot.utcoffset():
            continue  # the second time this wall time happens (autumn): it fired the first time
        yield slot


def next_slots(spec: dict, after: datetime, now: datetime, limit: int = COUNT_MAX) -> list[datetime]:
    """The schedule's slots ``s`` with ``after <= s <= now`` (UTC), the earliest ``limit``."""
    out = []
    for slot in _iterate(spec, after - timedelta(microseconds=1)):
        slot = slot.astimezone(dt_timezone.utc)
        if slot > now or len(out) >= limit:
            break
        out.append(slot)
    return out


def first_after(spec: dict, now: datetime) -> datetime:
    """The schedule's first slot after ``now``, in UTC."""
    return next(_iterate(spec, now)).astimezone(dt_timezone.utc)


def latest_before(spec: dict, before: datetime, since: datetime, limit: int) -> list[datetime]:
    """The latest ``limit`` slots ``s`` with ``since <= s < before``, in order (UTC)."""
    out = []
    for slot in _iterate(spec, before, backwards=True):
        slot = slot.astimezone(dt_timezone.utc)
        if slot < since or len(out) >= limit:
            break
        out.append(slot)
    return out[::-1]


def local_iso(spec: dict, slot: datetime) -> str:
    """``2030-03-31T03:00:00+02:00``: a slot in the trigger's timezone (``${trigger.date}``)."""
    return slot.astimezone(_zone(spec)).isoformat()


# -- a tick ------------------------------------------------------------------------------------
def tick(now: datetime | None = None, worker: str = "") -> list[ScheduleSlot]:
    """Handle every due slot of every active schedule of an enabled workflow; the slot rows
    this process wrote."""
    now = now or clock_now()
    late = timedelta(seconds=settings.WORKFLOW_SCHEDULER_LATE)
    written: list[ScheduleSlot] = []
    # off (a version dropped it, or the workflow's triggers are disabled): it forgets where it
    # was, so when it is on again it starts at its next slot; what it skipped while off never fires
    off = Trigger.objects.filter(kind=Trigger.Kind.SCHEDULE, next_slot__isnull=False).filter(
        Q(active=False) | Q(workflow__triggers_enabled=False))
    if off.exists():  # read first: an UPDATE takes SQLite's write lock even when it changes nothing
        Trigger.objects.filter(pk__in=list(off.values_list("pk", flat=True)[:1000])).update(next_slot=None)
    rows = (Trigger.objects.filter(kind=Trigger.Kind.SCHEDULE, active=True, workflow__triggers_enabled=True)
            .filter(_due(now)).select_related("workflow", "workflow__owner"))
    for row in rows:
        try:
            written += _handle(row, now, late, worker)
        except Exception:  # noqa: BLE001 - one broken trigger must not stop the others
            log.exception("schedule %s failed", row)
    return written


def _due(now):
    return Q(next_slot__isnull=True) | Q(next_slot__lte=now)


def _handle(row: Trigger, now: datetime, late: timedelta, worker: str) -> list[ScheduleSlot]:
    spec, seen = row.spec, row.next_slot
    if seen is None:  # new, changed or on again: from its save (a slot since then is due) or now
        since = max(row.updated_at or now, now - timedelta(seconds=2 * settings.WORKFLOW_SCHEDULER_INTERVAL))
        Trigger.objects.filter(pk=row.pk, next_slot__isnull=True).update(next_slot=first_after(spec, since))
        seen = Trigger.objects.filter(pk=row.pk).values_list("next_slot", flat=True).first()
        if seen is None or seen > now:  # nothing due yet (the usual case), or turned off meanwhile
            return []
    due = next_slots(spec, seen, now, limit=COUNT_MAX)
    upcoming = first_after(spec, now)
    if not Trigger.objects.filter(pk=row.pk, next_slot=seen).update(next_slot=upcoming):
        return []  # another process took these slots
    edge = now - late
    truncated = len(due) >= COUNT_MAX and due[-1] < edge  # counted up to the bound: more were missed
    on_time = next_slots(spec, edge, now) if truncated else [slot for slot in due if slot >= edge]
    missed = [slot for slot in due if slot < edge]
    if truncated:
        missed[-1:] = latest_before(spec, edge, seen, 1)  # the last one counted, then the last one missed
    written = []
    if missed:
        many = f"{COUNT_MAX:,} or more" if truncated else f"{len(missed):,}"
        span = f"from {local_iso(spec, missed[0])} to {local_iso(spec, missed[-1])}"
        if not spec.get("catch_up"):
            written += _note(row, missed[-1], f"{many} slots missed while nothing ran ({span}); catch_up is off",
                             worker)
        else:
            runs = latest_before(spec, edge, seen, CATCH_UP_MAX)
            if runs and missed[0] < runs[0]:
                left = "many" if truncated else f"{len(missed) - len(runs):,}"
                written += _note(row, missed[0], f"{many} slots missed while nothing ran ({span}); catch_up ran the "
                                 f"latest {CATCH_UP_MAX}, {left} older ones were left out", worker)
            for slot in runs:
                written += _fire(row, slot, worker, caught_up=True)
    for slot in on_time:
        written += _fire(row, slot, worker)
    return written


def _claim(row: Trigger, slot: datetime, outcome: str, note: str, worker: str) -> ScheduleSlot | None:
    try:
        with transaction.atomic():
            return ScheduleSlot.objects.create(trigger=row, slot=slot, outcome=outcome, note=note[:500],
                                               claimed_by=worker[:200])
    except IntegrityError:
        return None  # claimed by another process: it is theirs


def _note(row: Trigger, slot: datetime, note: str, worker: str) -> list[ScheduleSlot]:
    claimed = _claim(row, slot, ScheduleSlot.Outcome.SKIPPED, note, worker)
    return [claimed] if claimed else []


def _fire(row: Trigger, slot: datetime, worker: str, caught_up: bool = False) -> list[ScheduleSlot]:
    """Claim one slot and start its run (builder.triggers.start); the claimed row, if ours."""
    from . import triggers

    claimed = _claim(row, slot, ScheduleSlot.Outcome.FAILED, "the scheduler stopped before the run was made", worker)
    if claimed is None:
        return []
    iso = local_iso(row.spec, slot)
    detail = {"trigger": row.trigger_id, "slot": iso, **({"caught_up": True} if caught_up else {})}
    try:
        run = triggers.start(row, {"id": row.trigger_id, "kind": "schedule", "date": iso}, detail)
    except Exception as exc:  # noqa: BLE001 - whatever stopped the run is the slot's note
        log.warning("slot %s of %s: no run (%s: %s)", iso, row, type(exc).__name__, str(exc)[:200])
        claimed.outcome, claimed.note = ScheduleSlot.Outcome.FAILED, _reason(exc)
    else:
        claimed.run = run
        skipped = run.status == run.Status.SKIPPED
        claimed.outcome = ScheduleSlot.Outcome.SKIPPED if skipped else ScheduleSlot.Outcome.STARTED
        claimed.note = (run.error or "")[:500] if skipped else ("caught up" if caught_up else "")
    claimed.save(update_fields=["outcome", "note", "run"])
    return [claimed]


def _reason(exc: Exception) -> str:
    problems = getattr(exc, "problems", None) or getattr(exc, "issues", None)
    if problems:
        text = "; ".join(str(getattr(p, "message", p)) for p in list(problems)[:5])
    else:
        text = str(exc) or type(exc).__name__
    return text[:500]


# -- the loops ---------------------------------------------------------------------------------
def enabled() -> bool:
    """Whether this process's server runs the scheduler loop (WORKFLOW_SCHEDULER)."""
    return settings.WORKFLOW_SCHEDULER


async def loop() -> None:
    """Embedded mode: a tick every WORKFLOW_SCHEDULER_INTERVAL seconds in the server's loop."""
    from asgiref.sync import sync_to_async

    from .execution import worker_name

    name = worker_name()
    while True:
        try:
            await sync_to_async(tick)(None, name)
        except Exception:  # noqa: BLE001 - the loop must outlive one bad pass
            log.exception("scheduler tick failed")
        await asyncio.sleep(_interval())


def run_forever(stop=None, out=None) -> None:
    """Celery mode (``manage.py runscheduler``): the same ticks, in a process of their own."""
    from django.db import close_old_connections

    from .execution import worker_name

    name = worker_name()
    while stop is None or not stop.is_set():
        close_old_connections()
        try:
            for slot in tick(None, name):
                if out is not None:
                    out(f"slot {slot.slot.isoformat()} of {slot.trigger.trigger_id}: {slot.outcome} {slot.note}".rstrip())
        except Exception:  # noqa: BLE001 - a database hiccup: try again next time
            log.exception("scheduler tick failed")
        if stop is not None:
            stop.wait(_interval())
        else:
            time.sleep(_interval())


def _interval() -> float:
    """WORKFLOW_SCHEDULER_INTERVAL, never 0 or less (a loop that would spin)."""
    return max(0.05, float(settings.WORKFLOW_SCHEDULER_INTERVAL))
