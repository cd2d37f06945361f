"""A run taken over by another process: its critical path is the whole run's, from every
process's stored steps (builder/critical_rows.py via recorder._whole_run), not the last part's."""

import datetime as dt

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from builder import execution
from builder.models import Run, StepRun
from builder.services import create_run, save_workflow
from tests.builder.test_leases import another_process

pytestmark = pytest.mark.django_db(transaction=True)

FLOW = """name: taken
steps:
  - {id: a, uses: wait, with: {seconds: 0.05, value: 1}}
  - id: per_file
    foreach: [1, 2, 3]
    concurrency: 1
    steps:
      - {id: get, uses: wait, with: {seconds: 0.05}}
  - {id: b, uses: wait, with: {seconds: 0.05, value: 2}}
"""


async def test_a_taken_over_runs_path_starts_with_the_steps_the_stopped_process_ran(alice):
    def prepare():
        run = create_run(save_workflow(alice, FLOW), alice, {})
        another_process(run.pk, expires_in=-1)
        now = timezone.now()
        begun = now - dt.timedelta(seconds=3)
        StepRun.objects.create(run=run, path="a", step_id="a", kind="action", uses="wait", attempt=1,
                               status="succeeded", output=1, started_at=begun,
                               finished_at=begun + dt.timedelta(seconds=1))
        StepRun.objects.create(run=run, path="per_file", step_id="per_file", kind="foreach", attempt=1,
                               status="running", started_at=begun + dt.timedelta(seconds=1))
        StepRun.objects.create(run=run, path="per_file[0].get", step_id="get", kind="action", uses="wait",
                               attempt=1, status="running", started_at=begun + dt.timedelta(seconds=1))
        Run.objects.filter(pk=run.pk).update(last_seq=9, started_at=begun)
        return run
    run = await sync_to_async(prepare)()
    await execution.execute(run.pk)
    done = await Run.objects.aget(pk=run.pk)
    assert done.status == "succeeded" and done.summary["taken_over"] is True
    path = done.summary["critical_path"]
    # "a" ran in the stopped process: the live part alone starts at the foreach
    assert path[0] == "a" and path[-1] == "b" and path[1].startswith("per_file[") and len(path) == 3, path
    held = {(h["block"], h["cause"]): h for h in done.summary["held_back"]}
    assert ("per_file", "slot") in held and held[("per_file", "slot")]["limit"] == 1, held
    # the interrupted attempt's gap is the takeover's downtime: never called a retry backoff
    assert not [h for h in done.summary["held_back"] if h["cause"] == "backoff"], held
