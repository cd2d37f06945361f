"""Models: versions are immutable, names unique per owner, runs keep their steps."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from builder.models import Run, StepRun, Workflow, WorkflowVersion
from builder.services import Invalid, create_run, save_workflow
from tests.conftest import SIMPLE

pytestmark = pytest.mark.django_db


def test_every_save_is_a_new_version(alice, workflow):
    assert workflow.version == 1 and workflow.name == "simple" and workflow.title == "Simple"
    save_workflow(alice, SIMPLE.replace("0.01", "0.02"), "slower", workflow)
    workflow.refresh_from_db()
    assert workflow.version == 2
    assert list(workflow.versions.values_list("number", "message")) == [(2, "slower"), (1, "created")]
    assert "0.02" in workflow.current_version().yaml


def test_saving_the_same_text_makes_no_version(alice, workflow):
    save_workflow(alice, SIMPLE, "", workflow)
    assert workflow.versions.count() == 1


def test_versions_are_immutable(workflow):
    version = workflow.versions.get()
    version.message = "changed"
    with pytest.raises(ValidationError):
        version.save()


def test_invalid_yaml_is_refused_with_issues(alice):
    with pytest.raises(Invalid) as info:
        save_workflow(alice, "name: x\nsteps:\n  - {id: a, uses: wiat}\n")
    assert "did you mean 'wait'" in info.value.issues[0].message
    assert not Workflow.objects.exists()


def test_names_are_unique_per_owner_not_globally(alice, bob, workflow):
    with pytest.raises(Invalid) as info:
        save_workflow(alice, SIMPLE)
    assert "already have a workflow named 'simple'" in info.value.issues[0].message
    assert save_workflow(bob, SIMPLE).owner == bob
    with pytest.raises(IntegrityError), transaction.atomic():
        Workflow.objects.create(owner=alice, name="simple", yaml=SIMPLE)


def test_runs_check_inputs_and_remember_the_version(alice, workflow):
    run = create_run(workflow, alice, {"n": 5})
    assert run.status == Run.Status.QUEUED and run.inputs == {"n": 5} and run.version.number == 1
    from engine import InputsInvalid

    with pytest.raises(InputsInvalid):
        create_run(workflow, alice, {"n": "five"})


def test_step_rows_are_one_per_attempt(alice, workflow):
    run = create_run(workflow, alice, {})
    StepRun.objects.create(run=run, path="a", step_id="a", attempt=1, status="failed")
    StepRun.objects.create(run=run, path="a", step_id="a", attempt=2, status="succeeded")
    with pytest.raises(IntegrityError), transaction.atomic():
        StepRun.objects.create(run=run, path="a", step_id="a", attempt=2)
    assert WorkflowVersion.objects.count() == 1
