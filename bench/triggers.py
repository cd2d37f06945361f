"""Triggers benchmark: how soon a run starts after what triggered it, with real processes.

Run: ``python bench/triggers.py`` (``--quick`` for fewer slots). One function per figure,
each printing its lines; ``main`` prints them all:

1. ``schedule_latency``: time from a schedule's slot to its run started (``Run.started_at``),
   split into slot → claimed (the scheduler's wait: up to one ``WORKFLOW_SCHEDULER_INTERVAL``)
   and claimed → started (making the run and starting it), in the embedded mode (one daphne,
   SQLite, the scheduler loop in the server) and the celery mode (``manage.py runscheduler``,
   one worker, PostgreSQL and Redis), at the default interval (5 s) and at 1 s. The baseline
   measured in the same run is the interval's own expectation (a slot waits half an interval
   on average). The clock is faked so that a minute passes in 3 s (``WORKFLOW_SCHEDULER_CLOCK``),
   the times are real.

2. ``webhook_rps``: webhook requests per second answered 202 with the run queued, against a
   real daphne (embedded), with an unknown-token baseline (bench/webhooks.py).

3. ``token_check``: µs per personal API token check (``builder.tokens.authenticate``), with a
   session's check, one indexed SELECT and whole in-process requests as baselines, on SQLite and
   PostgreSQL (bench/tokens.py).

Every process it starts is stopped at the end, and the databases it made are dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import ROOT, Daphne, deployment_env, manage, migrated  # noqa: E402

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/" + os.environ.get("BENCH_REDIS_DB", "13")
SPEED = 20  # a simulated minute in 3 real seconds
START = datetime.fromisoformat("2030-01-01T00:00:30+00:00")
SCHEDULED = """name: every_minute
triggers:
  - {id: beat, schedule: "* * * * *"}
steps:
  - {id: only, uses: wait, with: {seconds: 0}}
"""
COLLECT = """
import json
from builder.models import ScheduleSlot
rows = ScheduleSlot.objects.filter(trigger__workflow_id=WF).select_related("run").order_by("slot")
print(json.dumps([[s.slot.isoformat(), s.claimed_at.isoformat(), s.run.started_at.isoformat()
                   if s.run and s.run.started_at else None, s.outcome] for s in rows]))
"""


def machine() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f}"


def _clock(lead: float) -> tuple[str, float]:
    """A fake clock at START ``lead`` real seconds from now, SPEED times as fast."""
    at = time.time() + lead
    return json.dumps({"start": START.isoformat(), "at": at, "speed": SPEED}), at


def _real(slot: datetime, at: float) -> float:
    """The real epoch time at which the fake clock reaches ``slot``."""
    return at + (slot - START).total_seconds() / SPEED


def _save(env: dict) -> int:
    code = ("from django.contrib.auth.models import User; from builder.services import save_workflow; "
            f"print(save_workflow(User.objects.get(username='bench'), {SCHEDULED!r}).pk)")
    done = manage(env, "shell", "-c", code)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def _measure(env: dict, workflow: int, at: float, slots: int) -> list[tuple[float, float]]:
    """(slot → claimed, claimed → started) in seconds for the first ``slots`` slots started."""
    deadline = time.time() + 60 + slots * 60 / SPEED * 2
    while time.time() < deadline:
        time.sleep(1)
        done = manage(env, "shell", "-c", COLLECT.replace("WF", str(workflow)))
        assert done.returncode == 0, done.stderr
        rows = [row for row in json.loads(done.stdout.strip().splitlines()[-1]) if row[2]]
        if len(rows) >= slots:
            out = []
            for slot, claimed, started, _ in rows[:slots]:
                due = _real(datetime.fromisoformat(slot), at)
                claimed_at, started_at = (datetime.fromisoformat(claimed).timestamp(),
                                          datetime.fromisoformat(started).timestamp())
                out.append((claimed_at - due, started_at - claimed_at))
            return out
    raise RuntimeError(f"fewer than {slots} slots started in time")


def _print(label: str, interval: float, figures: list[tuple[float, float]]) -> None:
    waits, starts = [f[0] for f in figures], [f[1] for f in figures]
    total = [a + b for a, b in figures]
    print(f"  {label}, interval {interval:g} s, {len(figures)} slots: slot → run started median "
          f"{statistics.median(total):.2f} s, max {max(total):.2f} s (slot → claimed median "
          f"{statistics.median(waits):.2f} s, claimed → started median {statistics.median(starts) * 1000:.0f} ms); "
          f"baseline: half an interval = {interval / 2:.2f} s")


def _embedded(tmp: str, interval: float, slots: int) -> list[tuple[float, float]]:
    clock, at = _clock(lead=8)
    env = migrated(deployment_env(WORKFLOW_EXECUTION="embedded", SQLITE_PATH=f"{tmp}/sched-{interval}.sqlite3",
                                  WORKFLOW_SCHEDULER_INTERVAL=str(interval), WORKFLOW_SCHEDULER_LATE="3600",
                                  WORKFLOW_SCHEDULER_CLOCK=clock), {"bench": "bench-password"})
    workflow = _save(env)
    server = Daphne(env, timeout=30).require_started()
    try:
        return _measure(env, workflow, at, slots)
    finally:
        server.stop()


def _celery(interval: float, slots: int) -> list[tuple[float, float]]:
    import psycopg

    from tests.cluster.conftest import Worker

    name = f"wf_bench_triggers_{os.getpid()}"
    admin = psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **PG)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    procs = []
    try:
        clock, at = _clock(lead=15)
        env = migrated(deployment_env(
            WORKFLOW_EXECUTION="celery", DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
            REDIS_URL=REDIS_URL, WORKFLOW_REDIS_PREFIX=name + ":", WORKFLOW_PYTHON_WORKERS="1",
            CELERY_SKIP_CHECKS="1", WORKFLOW_SCHEDULER_INTERVAL=str(interval), WORKFLOW_SCHEDULER_LATE="3600",
            WORKFLOW_SCHEDULER_CLOCK=clock), {"bench": "bench-password"})
        workflow = _save(env)
        procs.append(Worker(env, "bench-triggers"))
        beat = subprocess.Popen([sys.executable, "manage.py", "runscheduler"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            return _measure(env, workflow, at, slots)
        finally:
            beat.terminate()
            beat.wait(20)
    finally:
        for proc in procs:
            proc.stop()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def schedule_latency(slots: int = 8, celery: bool = True) -> None:
    """Figure 1: slot → run started, embedded and celery, at the default interval and at 1 s."""
    print(f"schedule: slot → run started (a minute passes in {60 / SPEED:g} s; {machine()})")
    with tempfile.TemporaryDirectory() as tmp:
        for interval in (5.0, 1.0):
            _print("embedded (daphne, SQLite)", interval, _embedded(tmp, interval, slots))
    if celery:
        for interval in (5.0, 1.0):
            try:
                _print("celery (runscheduler + 1 worker, PostgreSQL)", interval, _celery(interval, slots))
            except Exception as exc:  # noqa: BLE001 - no PostgreSQL or Redis here: say so, go on
                print(f"  celery: not measured ({type(exc).__name__}: {str(exc)[:200]})")


def webhook_rps(requests: int = 500, concurrency: int = 8) -> dict:
    """Figure 2: webhook requests per second answered 202 with the run queued (bench/webhooks.py)."""
    from bench.webhooks import webhook_rps as measure

    return measure(requests, concurrency)


def token_check(calls: int = 2000) -> None:
    """Figure 3: µs per personal API token check, against a session's check and a plain SELECT
    measured in the same run (bench/tokens.py, in a process of its own: it sets Django up)."""
    for extra in ([], ["--postgres"]):
        done = subprocess.run([sys.executable, str(ROOT / "bench" / "tokens.py"), "--calls", str(calls), *extra],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        print(done.stdout.rstrip() if done.returncode == 0 else
              f"  token check{' (PostgreSQL)' if extra else ''}: not measured ({done.stderr.strip()[-200:]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 slots a setting instead of 8")
    parser.add_argument("--no-celery", action="store_true", help="the embedded mode only")
    args = parser.parse_args()
    schedule_latency(slots=4 if args.quick else 8, celery=not args.no_celery)
    webhook_rps(requests=200 if args.quick else 500)
    token_check(calls=500 if args.quick else 2000)


if __name__ == "__main__":
    main()
