"""The skills registry is built once per process and again only when the skills change
(builder/runtime.py ``_skills_key``): every way a skill changes is seen by the very next run."""

import pytest
from asgiref.sync import sync_to_async

from builder import execution, runtime
from builder.models import Skill
from builder.services import Invalid, create_run, save_workflow
from builder.skill_transfer import apply, export_yaml, plan

pytestmark = pytest.mark.django_db(transaction=True)

ONE = "name: one-skill\nsteps:\n  - {id: s, uses: greet, with: {who: x}}\n"


def make(name="greet", text="hello ${inputs.who}"):
    return Skill.objects.create(name=name, action="wait", config={"seconds": 0, "value": text},
                                input_schema={"type": "object", "properties": {"who": {"type": "string"}}})


def test_the_registry_is_reused_until_a_skill_changes(db):
    make()
    first = runtime.registry()
    assert runtime.registry() is first  # nothing changed: the same registry, no rows read
    skill = Skill.objects.get(name="greet")
    skill.title = "Greet"
    skill.save()
    second = runtime.registry()
    assert second is not first and second.get("greet").title == "Greet"


def test_add_disable_enable_and_delete_are_seen_at_once(db):
    make()
    assert runtime.registry().get("greet") is not None
    Skill.objects.filter(name="greet").update(enabled=False)  # a bulk update (no save, no updated_at)
    assert runtime.registry().get("greet") is None
    Skill.objects.filter(name="greet").update(enabled=True)
    assert runtime.registry().get("greet") is not None
    other = make("other")
    assert runtime.registry().get("other") is not None
    Skill.objects.filter(name="greet").delete()  # a delete and ...
    make("third")  # ... an add: the same count
    actions = runtime.registry()
    assert actions.get("greet") is None and actions.get("third") is not None
    other.delete()
    assert runtime.registry().get("other") is None


def test_an_import_is_seen_at_once(alice):
    make()
    with pytest.raises(Invalid):
        save_workflow(alice, ONE.replace("greet", "greeter"))
    text = export_yaml(Skill.objects.filter(name="greet")).replace("name: greet", "name: greeter")
    apply(plan(text), alice)
    assert save_workflow(alice, ONE.replace("greet", "greeter"))


async def test_a_run_after_an_edit_runs_the_new_skill(alice):
    await sync_to_async(make)()
    workflow = await sync_to_async(save_workflow)(alice, ONE)
    run = await execution.execute((await sync_to_async(create_run)(workflow, alice, {})).pk, send=False)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"s": "hello x"}

    def edit():
        skill = Skill.objects.get(name="greet")
        skill.config = {"seconds": 0, "value": "bye ${inputs.who}"}
        skill.save()
    await sync_to_async(edit)()
    run = await execution.execute((await sync_to_async(create_run)(workflow, alice, {})).pk, send=False)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"s": "bye x"}
