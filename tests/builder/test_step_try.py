"""Trying one step of the editor's (unsaved) text with a recorded run's outputs
(builder/step_try.py, /api/workflows/{id}/try-step) and the last run's marks on the cards
(/api/workflows/{id}/last-run): what runs, what is reused, what is recorded, what is refused."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from builder.models import Run, StepRun, Workflow
from builder.services import save_workflow
from builder.step_try import build_trial
from tests.builder.helpers import finished

pytestmark = pytest.mark.django_db(transaction=True)

FLOW = """version: 1
name: flow
inputs: {n: {type: integer, default: 2}}
outputs: {last: "${double}"}
on_failure:
  - {id: alert, uses: fail, with: {message: the hook must not run}}
steps:
  - {id: first, uses: wait, with: {seconds: 0, value: "${inputs.n * 10}"}}
  - id: both
    parallel:
      - {id: left, uses: wait, with: {seconds: 0, value: "${first + 1}"}}
      - {id: right, uses: wait, with: {seconds: 0, value: right}}
  - {id: double, uses: wait, with: {seconds: 0, value: "${first * 2}"}}
  - {id: boom, uses: fail, with: {message: must not run}}
"""


@pytest.fixture
async def client(alice):
    c = AsyncClient()
    await c.aforce_login(alice)
    return c


async def post(client, url, body):
    return await client.post(url, data=json.dumps(body), content_type="application/json")


async def recorded(client, alice, text=FLOW):
    """A saved workflow and a finished run of it (its last step fails: outputs before it stand)."""
    workflow = await sync_to_async(save_workflow)(alice, text)
    started = await post(client, f"/api/workflows/{workflow.pk}/runs", {"inputs": {"n": 3}})
    run = await finished(started.json()["id"])
    assert run.status == "failed", run.error
    return workflow, run


async def test_an_unsaved_step_runs_alone_with_the_recorded_outputs_and_is_recorded(client, alice):
    workflow, source = await recorded(client, alice)
    edited = FLOW.replace('value: "${first * 2}"', 'value: "${first * 3} from ${both.right}"')
    answer = await post(client, f"/api/workflows/{workflow.pk}/try-step", {"yaml": edited, "step": "double"})
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["status"] == "succeeded", body
    assert body["step"]["output"] == "90 from right"  # first = 30 in the recorded run (n = 3)
    assert body["from_run"] == source.pk and body["saved"] is False
    assert set(body["reused"]) == {"first", "both"} and body["skipped"] == ["boom"]
    trial = await Run.objects.aget(pk=body["run_id"])
    assert trial.mode == "try" and trial.started_by_id == alice.pk and trial.workflow_id == workflow.pk
    assert trial.origin_detail == {"try": "double", "from_run": source.pk, "saved": False}
    assert trial.inputs == {"n": 3}
    rows = {r.path: r.status async for r in StepRun.objects.filter(run=trial)}
    assert rows["double"] == "succeeded" and rows["boom"] == "skipped" and "alert" not in rows
    assert (await Workflow.objects.aget(pk=workflow.pk)).version == 1  # nothing saved


async def test_a_branch_step_runs_inside_its_block_and_the_others_are_reused(client, alice):
    workflow, _ = await recorded(client, alice)
    edited = FLOW.replace('value: "${first + 1}"', 'value: "${first + 100}"')
    body = (await post(client, f"/api/workflows/{workflow.pk}/try-step", {"yaml": edited, "step": "both.left"})).json()
    assert body["status"] == "succeeded" and body["step"]["output"] == 130, body
    assert "both.right" in body["reused"] and "both" not in body["reused"]


async def test_a_failing_step_answers_its_error_and_last_run_ignores_trials(client, alice):
    workflow, source = await recorded(client, alice)
    body = (await post(client, f"/api/workflows/{workflow.pk}/try-step", {"yaml": FLOW, "step": "boom"})).json()
    assert body["status"] == "failed" and body["step"]["error"].endswith("must not run"), body
    last = (await client.get(f"/api/workflows/{workflow.pk}/last-run")).json()
    assert last["run"]["id"] == source.pk  # the trial is not "the last run"
    assert last["steps"]["first"]["status"] == "succeeded" and last["steps"]["first"]["peek"] == "30"
    assert last["steps"]["boom"]["status"] == "failed" and "must not run" in last["steps"]["boom"]["error"]


def test_the_trial_keeps_the_shape_and_drops_what_would_run_or_undo_other_steps():
    data = {"name": "x", "on_failure": [{"id": "h", "uses": "fail"}], "triggers": [], "outputs": {"a": 1},
            "steps": [{"id": "a", "uses": "wait", "compensate": [{"id": "undo", "uses": "fail"}]},
                      {"id": "p", "on_error": "rollback", "min_success": 2, "if": "${a}", "parallel": [
                          {"id": "x", "uses": "wait"}, {"id": "y", "uses": "wait", "if": "${a}"}]},
                      {"id": "z", "steps": [{"id": "q", "uses": "wait"}]}]}
    trial, reused, skipped = build_trial(data, "p.x", {"a": 1, "p.y": 2})
    assert set(trial) == {"name", "steps"}
    a, p, z = trial["steps"]
    assert "compensate" not in a and reused == ["a", "p.y"] and skipped == ["z"]
    assert p["on_error"] == "fail_fast" and "min_success" not in p and "if" not in p
    assert p["parallel"][0] == {"id": "x", "uses": "wait"} and z["if"] is False


@pytest.mark.parametrize("step, status, words", [
    ("nope", 404, "there is no step nope"),
    ("both.nope", 404, "there is no step both.nope"),
])
async def test_a_step_not_in_the_text_is_a_404_that_says_so(client, alice, step, status, words):
    workflow, _ = await recorded(client, alice)
    answer = await post(client, f"/api/workflows/{workflow.pk}/try-step", {"yaml": FLOW, "step": step})
    assert answer.status_code == status and words in answer.json()["detail"]
