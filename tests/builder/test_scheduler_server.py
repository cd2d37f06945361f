"""The embedded mode's scheduler loop runs in a real daphne process (builder/execution.py starts
it with the recovery loop): an every-minute schedule fires with a fast fake clock, and its runs
execute in that server. With ``WORKFLOW_SCHEDULER=off`` the server fires nothing."""

import json
import time

from tests.servers import Daphne, deployment_env, manage, migrated

SCHEDULED = """name: every_minute
inputs: {day: {type: string, default: none}}
triggers:
  - {id: beat, schedule: "* * * * *", inputs: {day: "${trigger.date}"}}
steps:
  - {id: a, uses: wait, with: {seconds: 0, value: "${inputs.day}"}}
"""
COLLECT = """
import json
from builder.models import Run, ScheduleSlot
print(json.dumps({"slots": [s.outcome for s in ScheduleSlot.objects.all()],
                  "runs": [[r.status, r.origin, r.inputs.get("day")] for r in Run.objects.order_by("pk")]}))
"""


def server_with_schedule(tmp_path, **settings):
    clock = json.dumps({"start": "2030-01-01T00:00:50+00:00", "at": time.time() + 4, "speed": 30})
    env = migrated(deployment_env(WORKFLOW_EXECUTION="embedded", SQLITE_PATH=str(tmp_path / "db.sqlite3"),
                                  WORKFLOW_SCHEDULER_CLOCK=clock, WORKFLOW_SCHEDULER_INTERVAL="0.2", **settings),
                   {"ann": "ann-password"})
    code = ("from django.contrib.auth.models import User; from builder.services import save_workflow; "
            f"save_workflow(User.objects.get(username='ann'), {SCHEDULED!r})")
    saved = manage(env, "shell", "-c", code)
    assert saved.returncode == 0, saved.stderr
    return env


def collect(env) -> dict:
    done = manage(env, "shell", "-c", COLLECT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_embedded_server_fires_schedules_and_runs_them(tmp_path):
    env = server_with_schedule(tmp_path)
    server = Daphne(env, timeout=30).require_started()
    try:
        deadline = time.monotonic() + 40
        found = {"runs": []}
        while time.monotonic() < deadline:
            found = collect(env)
            if sum(1 for r in found["runs"] if r[0] == "succeeded") >= 2:
                break
            time.sleep(1)
    finally:
        server.stop()
    done = [r for r in found["runs"] if r[0] == "succeeded"]
    assert len(done) >= 2, found
    assert {r[1] for r in found["runs"]} == {"schedule"} and done[0][2].startswith("20")
    assert len(found["slots"]) == len(found["runs"])


def test_a_server_with_the_scheduler_off_fires_nothing(tmp_path):
    env = server_with_schedule(tmp_path, WORKFLOW_SCHEDULER="off")
    server = Daphne(env, timeout=30).require_started()
    try:
        time.sleep(8)  # four simulated minutes
    finally:
        server.stop()
    assert collect(env) == {"slots": [], "runs": []}
