"""A run created in this process starts with the workflow create_run loaded and checked and the
secrets it read (builder/services.py ``take_loaded``), not a second load of the same YAML; when
a skill changed meanwhile, or the text is not the one loaded, it loads again."""

import pytest

from builder import services
from builder.models import Secret, Skill
from builder.runtime import registry
from builder.services import create_run, save_workflow, take_loaded

pytestmark = pytest.mark.django_db

ONE = "name: one\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0, value: 1}}\n"


def test_the_loaded_workflow_is_taken_once_with_the_same_text_skills_and_secrets(alice, settings):
    settings.WORKFLOW_EXECUTION = "embedded"
    workflow = save_workflow(alice, ONE)
    run = create_run(workflow, alice, {})
    actions = registry()
    assert take_loaded(run.pk, "name: other\n" + ONE[10:], actions) is None  # another text: no
    Secret.objects.create(owner=alice, name="KEY", value="v")
    run = create_run(workflow, alice, {})
    loaded, secrets = take_loaded(run.pk, run.version.yaml, actions)
    assert loaded.name == "one" and secrets == {"KEY": "v"}
    assert take_loaded(run.pk, run.version.yaml, actions) is None  # taken once
    run = create_run(workflow, alice, {})
    Skill.objects.create(name="greet", action="wait", config={"seconds": 0, "value": 1})
    assert take_loaded(run.pk, run.version.yaml, registry()) is None  # the skills changed


def test_the_handover_is_bounded_and_not_kept_in_the_celery_mode(alice, settings):
    settings.WORKFLOW_EXECUTION = "embedded"
    workflow = save_workflow(alice, ONE)
    for _ in range(services.LOADED_MAX + 5):
        create_run(workflow, alice, {})
    assert len(services._LOADED) <= services.LOADED_MAX
    services._LOADED.clear()
    settings.WORKFLOW_EXECUTION = "celery"
    create_run(workflow, alice, {}, mode="embedded")
    assert not services._LOADED
