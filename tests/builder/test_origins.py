"""Where a run came from: manual, rerun and resume are kept on the run; a version's triggers
become rows (active while the current version has them)."""

import pytest

from builder.models import Origin, Trigger
from builder.services import create_run, save_workflow

pytestmark = pytest.mark.django_db

TRIGGERED = """name: nightly
triggers:
  - {id: night, schedule: "0 2 * * *", timezone: Europe/Paris, inputs: {day: "${trigger.date}"}}
  - {id: from_ci, webhook: true}
inputs: {day: {type: string, default: today}}
steps:
  - {id: a, uses: wait, with: {seconds: 0, value: "${inputs.day}"}}
"""


def test_runs_keep_their_origin(alice, alice_client):
    workflow = save_workflow(alice, TRIGGERED)
    first = create_run(workflow, alice, {})
    assert (first.origin, first.origin_detail) == (Origin.MANUAL, {})
    cli = create_run(workflow, alice, {}, mode="cli")
    assert cli.origin == Origin.CLI
    resumed = create_run(workflow, alice, {}, resumed_from=first)
    assert (resumed.origin, resumed.origin_detail) == (Origin.RESUME, {"run": first.pk})
    first.status = "failed"
    first.save()
    rerun = alice_client.post(f"/api/runs/{first.pk}/rerun", content_type="application/json")
    assert rerun.status_code == 201


def test_a_versions_triggers_become_rows_and_go_inactive_when_it_drops_them(alice):
    workflow = save_workflow(alice, TRIGGERED)
    rows = {t.trigger_id: t for t in Trigger.objects.filter(workflow=workflow)}
    assert {k: (t.kind, t.active) for k, t in rows.items()} == {"night": ("schedule", True),
                                                                 "from_ci": ("webhook", True)}
    assert rows["night"].spec["timezone"] == "Europe/Paris" and rows["night"].spec["inputs"] == {
        "day": "${trigger.date}"}
    workflow = save_workflow(alice, TRIGGERED.replace("  - {id: from_ci, webhook: true}\n", ""), workflow=workflow)
    rows = {t.trigger_id: t.active for t in Trigger.objects.filter(workflow=workflow)}
    assert rows == {"night": True, "from_ci": False}
    save_workflow(alice, TRIGGERED, workflow=workflow)
    assert Trigger.objects.get(workflow=workflow, trigger_id="from_ci").active
