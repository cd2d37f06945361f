"""Two real ``manage.py runscheduler`` processes against the machine's PostgreSQL fire every slot
of an every-minute schedule exactly once (builder/scheduler.py's contract): one ScheduleSlot row
and one run per slot, whichever process claimed it.

The clock is faked, not slept through: ``WORKFLOW_SCHEDULER_CLOCK`` makes a minute pass in a
second in both processes alike, so ten slots take ten seconds. The schedule catches up, so a
process that stalls (a slow CI machine) still fires late slots, once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.servers import ROOT, manage

SPEED = 60  # simulated seconds per real second
SCHEDULED = """name: every_minute
inputs: {day: {type: string, default: none}}
triggers:
  - {id: beat, schedule: "* * * * *", catch_up: true, inputs: {day: "${trigger.date}"}}
steps:
  - {id: a, uses: wait, with: {seconds: 0, value: "${inputs.day}"}}
"""


@pytest.fixture(scope="module")
def env(cluster_env):
    clock = json.dumps({"start": "2030-01-01T00:00:30+00:00", "at": time.time() + 5, "speed": SPEED})
    return {**cluster_env, "WORKFLOW_SCHEDULER_CLOCK": clock, "WORKFLOW_SCHEDULER_INTERVAL": "0.1"}


def _sql(env: dict, query: str, *args) -> list[tuple]:
    import psycopg

    with psycopg.connect(env["DATABASE_URL"].replace("postgres://", "postgresql://", 1), autocommit=True) as db:
        return db.execute(query, args).fetchall()


def test_two_scheduler_processes_fire_each_slot_once(env):
    code = ("from django.contrib.auth.models import User; from builder.services import save_workflow; "
            f"print(save_workflow(User.objects.get(username='ann'), {SCHEDULED!r}).pk)")
    saved = manage(env, "shell", "-c", code)
    assert saved.returncode == 0, saved.stderr
    workflow = int(saved.stdout.strip().splitlines()[-1])
    procs = [subprocess.Popen([sys.executable, "manage.py", "runscheduler"], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    try:
        clock = json.loads(env["WORKFLOW_SCHEDULER_CLOCK"])
        time.sleep(max(0.0, clock["at"] - time.time()) + 10.5)  # simulated 00:00:30 → 00:10:60
        for proc in procs:
            assert proc.poll() is None, proc.communicate()[0]
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=20)[0] for proc in procs]
        assert all(proc.returncode == 0 for proc in procs), outputs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    slots = _sql(env, "SELECT s.slot, s.outcome, s.run_id, s.claimed_by FROM builder_scheduleslot s "
                      "JOIN builder_trigger t ON t.id = s.trigger_id WHERE t.workflow_id = %s ORDER BY s.slot",
                 workflow)
    runs = _sql(env, "SELECT id, origin, origin_detail->>'slot' FROM builder_run WHERE workflow_id = %s ORDER BY id",
                workflow)
    gaps = {(later[0] - earlier[0]).total_seconds() for earlier, later in zip(slots, slots[1:])}
    print(f"\n{len(slots)} slots, claimed by {sorted({row[3] for row in slots})}")
    assert len(slots) >= 8 and gaps == {60.0}, [row[0] for row in slots]  # every minute, none twice
    assert {row[1] for row in slots} == {"started"}
    assert sorted(row[2] for row in slots) == [row[0] for row in runs]  # one run per slot, no other run
    assert len({row[2] for row in runs}) == len(runs) and {row[1] for row in runs} == {"schedule"}
