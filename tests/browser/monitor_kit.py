"""What the monitor's browser tests share: runs recorded as a finished run leaves them (rows
written straight to the test database, for states a real run reaches only by chance: an
interruption, a resume's reused steps, items stored out of order, a critical path), opening a
monitor, screenshots at three widths and axe-core."""

from __future__ import annotations

import datetime as dt
import os
import shutil

from django.utils import timezone
from playwright.sync_api import expect

from builder.models import Run, RunEvent, StepRun
from builder.services import create_run

from .test_accessibility import serious_violations

WIDTHS = (1024, 1280, 1920)


def recorded_run(workflow, user, *, status: str, steps: list[tuple], started: dt.datetime | None = None,
                 finished: dt.datetime | None = None, summary: dict | None = None, resumed_from: Run | None = None,
                 events: list[dict] = (), duration_ms: float | None = None, outputs=None) -> Run:
    """A run of ``workflow`` stored as ended ``status``; ``steps``: ``(path, kind, status, start s,
    end s[, attempt, error, uses])`` with times in seconds after ``started``."""
    started = started or timezone.now() - dt.timedelta(minutes=5)
    run = create_run(workflow, user, {}, resumed_from=resumed_from)
    at = lambda seconds: None if seconds is None else started + dt.timedelta(seconds=seconds)  # noqa: E731
    for path, kind, step_status, begin, end, *more in steps:
        attempt, error, uses = (list(more) + [1, "", ""])[:3] if more else (1, "", "")
        StepRun.objects.create(run=run, path=path, step_id=path.rsplit(".", 1)[-1], kind=kind, uses=uses or "",
                               attempt=attempt, status=step_status, error=error, started_at=at(begin),
                               finished_at=at(end), duration_ms=None if end is None else (end - begin) * 1000)
    seq = 0
    for seq, data in enumerate(events, start=1):
        RunEvent.objects.create(run=run, seq=seq, type=data["type"], data={**data, "seq": seq})
    last = max([step[4] or step[3] or 0 for step in steps] or [0])
    finished = finished or started + dt.timedelta(seconds=last)
    Run.objects.filter(pk=run.pk).update(status=status, started_at=started, finished_at=finished,
                                         summary=summary or {}, duration_ms=duration_ms, last_seq=seq,
                                         outputs=outputs)
    return Run.objects.get(pk=run.pk)


def open_monitor(page, server, run_id: int, fragment: str = "") -> None:
    page.goto(f"{server.url}/runs/{run_id}/{fragment}")
    expect(page.locator("body[data-ready=true]")).to_be_attached()


def shots(page, shot, name: str, height: int = 800) -> list:
    """Screenshots at 1024, 1280 and 1920 px wide; the viewport is left at the last."""
    taken = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(100)
        taken.append(keep(shot(f"{name}-{width}")))
    return taken


def keep(path):
    """Copy a screenshot to $KEEP_SHOTS too (a browser session of another process empties test-results/)."""
    if os.environ.get("KEEP_SHOTS"):
        os.makedirs(os.environ["KEEP_SHOTS"], exist_ok=True)
        shutil.copy(path, os.environ["KEEP_SHOTS"])
    return path


def axe_clean(page) -> None:
    found = serious_violations(page)
    assert found == [], found


def overlaps(page, upper: str, lower: str) -> float:
    """How many pixels the box of ``upper`` (or anything drawn in it) reaches below the top of ``lower``."""
    return page.evaluate("""([a, b]) => {
        const top = document.querySelector(b).getBoundingClientRect().top;
        const box = document.querySelector(a);
        let bottom = box.getBoundingClientRect().bottom;
        // what a box draws outside itself (overflow visible) counts too
        const clip = getComputedStyle(box).overflowY !== 'visible';
        if (!clip) for (const el of box.querySelectorAll('*')) bottom = Math.max(bottom, el.getBoundingClientRect().bottom);
        return bottom - top;
    }""", [upper, lower])
