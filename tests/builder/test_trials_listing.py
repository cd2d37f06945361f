"""A trial of one step (builder/step_try.py) is no run of the workflow: the list's last run,
its sparkline and the API's last_run leave it out; /runs/ names it "try of STEP"."""

import pytest

from builder.models import Origin, Run
from builder.services import create_run, save_workflow
from tests.conftest import SIMPLE

pytestmark = pytest.mark.django_db


def test_trials_are_not_the_last_run(alice_client, alice):
    workflow = save_workflow(alice, SIMPLE)
    real = create_run(workflow, alice, {})
    Run.objects.filter(pk=real.pk).update(status="succeeded")
    trial = create_run(workflow, alice, {}, origin=Origin.MANUAL, origin_detail={"try": "a", "from_run": real.pk})
    Run.objects.filter(pk=trial.pk).update(mode="try", status="failed")
    [listed] = alice_client.get("/api/workflows/").json()
    assert listed["last_run"]["id"] == real.pk
    page = alice_client.get("/").content.decode()
    assert f'data-run="{real.pk}"' in page and f'data-run="{trial.pk}"' not in page
    runs = {r["id"]: r for r in alice_client.get("/api/runs/").json()}
    assert runs[trial.pk]["origin_text"] == "try of a"
