"""A foreach of a million no-op items through the real recorder (embedded mode, SQLite).

Run: ``python bench/foreach_db.py`` (``--items 100000`` for a shorter run). The run is the
server's own path (``builder.execution.execute``: claim, load, plan, ``Runner.run`` with the
``RunRecorder``), in this process, on a fresh SQLite database. A foreach of ``--outer`` items
each holding a foreach of ``items / outer`` ``wait 0`` steps (an expression makes at most
10,000 numbers a ``range``). Prints the process's RSS and the rows stored every few seconds,
then rows a second and whether memory stayed flat (the items are streamed to the database,
not kept).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def workflow(items: int, outer: int, concurrency: int) -> str:
    inner = items // outer
    return (f"name: million\nsteps:\n  - id: each\n    foreach: ${{range({outer})}}\n    concurrency: 1\n"
            f"    steps:\n      - id: inner\n        foreach: ${{range({inner})}}\n"
            f"        concurrency: {concurrency}\n        steps:\n"
            "          - {id: w, uses: wait, with: {seconds: 0}}\n")


def setup(items: int) -> None:
    tmp = tempfile.mkdtemp()
    os.environ.update(SQLITE_PATH=f"{tmp}/bench.sqlite3", DJANGO_DEBUG="0",  # DEBUG would keep every query
                      DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
                      DJANGO_SETTINGS_MODULE="builder.settings", WORKFLOW_RECOVER_ON_START="0",
                      WORKFLOW_MAX_ITEMS=str(max(items, 100000)), WORKFLOW_MAX_RUN_ITEMS=str(2 * items + 1000),
                      WORKFLOW_MAX_STEPS=str(2 * items + 1000))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


async def sample(run_id: int, every: float, seen: list) -> None:
    from builder.models import Run

    start = time.perf_counter()
    while True:
        await asyncio.sleep(every)
        seq = await Run.objects.filter(pk=run_id).values_list("last_seq", flat=True).afirst()
        seen.append((time.perf_counter() - start, rss_mb(), seq))
        print(f"  {seen[-1][0]:7.1f} s  RSS {seen[-1][1]:7.1f} MB  events stored {seq:>10,}", flush=True)


async def main(items: int, outer: int, concurrency: int, every: float) -> None:
    from django.contrib.auth.models import User

    from builder import execution
    from builder.models import Run, RunEvent, StepRun
    from builder.services import create_run, save_workflow

    user = await User.objects.acreate(username="bench")
    from asgiref.sync import sync_to_async

    saved = await sync_to_async(save_workflow)(user, workflow(items, outer, concurrency))
    run = await sync_to_async(create_run)(saved, user, {})
    print(f"A foreach of {outer} x {items // outer:,} no-op items through the recorder (SQLite), "
          f"concurrency {concurrency}; RSS before the run {rss_mb():.1f} MB")
    seen: list = []
    sampler = asyncio.create_task(sample(run.pk, every, seen))
    start = time.perf_counter()
    ended = await execution.execute(run.pk, send=True)
    wall = time.perf_counter() - start
    sampler.cancel()
    steps = await StepRun.objects.filter(run_id=run.pk).acount()
    events = await RunEvent.objects.filter(run_id=run.pk).acount()
    rows = steps + events
    print(f"  status {ended.status} {ended.error[:200]} in {wall:.1f} s: {steps:,} step rows + {events:,} event rows"
          f" = {rows / wall:,.0f} rows/s ({items / wall:,.0f} items/s)")
    if len(seen) >= 4:
        quarter = len(seen) // 4
        early = max(r for _, r, _ in seen[:quarter])
        late = max(r for _, r, _ in seen[-quarter:])
        print(f"  RSS: peak of the first quarter {early:.1f} MB, of the last quarter {late:.1f} MB "
              f"({late - early:+.1f} MB), end {rss_mb():.1f} MB")
    run = await Run.objects.aget(pk=run.pk)
    assert run.status == "succeeded", (run.status, run.error)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--outer", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args()
    setup(args.items)  # (migrations are sync: before the loop)
    asyncio.run(main(args.items, args.outer, args.concurrency, args.every))
