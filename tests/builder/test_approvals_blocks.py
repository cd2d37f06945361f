"""Approvals inside blocks through the API: the blocks around a waiting step wait with it, and
the continued run ends them; the example workflow with a switch, an approval and a repeat."""

import pathlib

import pytest

from builder.models import Approval, StepRun
from tests.builder.test_approvals import logged_in, post, reaches, start

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = pathlib.Path(__file__).resolve().parents[2]

INSIDE = """name: inside
steps:
  - id: both
    parallel:
      - {id: draft, uses: wait, with: {seconds: 0, value: hello}}
      - id: checks
        steps:
          - {id: ok, uses: approval, with: {message: "Ship it?", approvers: [bob]}}
  - {id: after, uses: wait, with: {seconds: 0, value: "${draft} / ${ok.by}"}}
"""


async def test_the_blocks_around_a_waiting_step_wait_with_it_and_end_when_it_goes_on(alice, bob):
    run_id = await start(await logged_in(alice), alice, INSIDE)
    await reaches(run_id, "waiting")
    rows = {s.path: s.status async for s in StepRun.objects.filter(run_id=run_id)}
    assert rows == {"both": "waiting", "both.draft": "succeeded", "both.checks": "waiting",
                    "both.checks.ok": "waiting"}
    approval = await Approval.objects.aget(run_id=run_id)
    decided = await post(await logged_in(bob), f"/api/approvals/{approval.pk}/decide", {"approve": True})
    assert decided.status_code == 200
    run = await reaches(run_id, "succeeded", "failed")
    assert run.status == "succeeded" and run.outputs == {"both": {"draft": "hello", "checks": {
        "approved": True, "by": "bob", "comment": "", "at": run.outputs["both"]["checks"]["at"]}},
        "after": "hello / bob"}
    rows = {s.path: s.status async for s in StepRun.objects.filter(run_id=run_id)}
    assert set(rows.values()) == {"succeeded"}, rows


async def test_the_publish_example_waits_in_its_switch_then_polls_after_the_decision(alice):
    yaml = (ROOT / "examples" / "publish_with_approval.yaml").read_text()
    run_id = await start(await logged_in(alice), alice, yaml)
    await reaches(run_id, "waiting")
    approval = await Approval.objects.aget(run_id=run_id)
    assert approval.path == "route.sign_off" and approval.message == "Publish Autumn prices?"
    decided = await post(await logged_in(alice), f"/api/approvals/{approval.pk}/decide",
                         {"approve": True, "comment": "go"})
    assert decided.status_code == 200
    run = await reaches(run_id, "succeeded", "failed")
    assert run.status == "succeeded", run.error
    assert run.outputs == {"decision": "approved by alice", "live_after_passes": 3}
    rows = {s.path: s.status async for s in StepRun.objects.filter(run_id=run_id)}
    assert rows["route.stamp_news"] == "skipped" and rows["go_live[2].check"] == "succeeded"
