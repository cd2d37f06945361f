"""Skills reach the engine through the builder's registry: `uses: <skill>` runs its preset."""

import pytest
from asgiref.sync import sync_to_async

from builder import execution
from builder.models import Skill, Workflow
from builder.services import Invalid, create_run, save_workflow

pytestmark = pytest.mark.django_db(transaction=True)

USES = """name: uses-skill
steps:
  - {id: words, uses: count_words, with: {text: "one two three"}}
  - {id: top, uses: top_words, with: {text: "b a b c b a", n: 2}}
  - {id: after, uses: wait, with: {seconds: 0, value: "${words}"}}
"""


@pytest.fixture
def skills(db):
    Skill.objects.create(name="count_words", action="python", category="Text",
                         config={"function": "engine.functions.text:word_count", "args": ["${inputs.text}"]},
                         input_schema={"type": "object", "properties": {"text": {"type": "string"}},
                                       "required": ["text"], "additionalProperties": False},
                         output_schema={"type": "integer"})
    Skill.objects.create(name="top_words", action="python", concurrency=1,
                         config={"function": "engine.functions.text:top_words", "args": ["${inputs.text}", "${inputs.n}"]},
                         input_schema={"type": "object", "properties": {"text": {"type": "string"},
                                                                       "n": {"type": "integer"}}})


async def test_a_workflow_runs_skills_with_their_configuration(alice, skills):
    workflow = await sync_to_async(save_workflow)(alice, USES)
    run = await sync_to_async(create_run)(workflow, alice, {})
    run = await execution.execute(run.pk, send=False)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"words": 3, "top": [{"word": "b", "count": 3}, {"word": "a", "count": 2}], "after": 3}
    row = await run.steps.aget(path="words")
    assert row.uses == "count_words" and row.inputs == {"text": "one two three"}  # constant inputs are shown too


def test_with_is_checked_against_the_skill_input_schema(alice, skills):
    with pytest.raises(Invalid) as info:
        save_workflow(alice, "name: bad\nsteps:\n  - {id: w, uses: count_words, with: {txt: x}}\n")
    messages = [i.message for i in info.value.issues]
    assert any("'text' is a required property" in m for m in messages)
    assert any("Additional properties are not allowed" in m for m in messages)
    with pytest.raises(Invalid) as info:
        save_workflow(alice, "name: bad\nsteps:\n  - {id: w, uses: count_word, with: {text: x}}\n")
    assert "did you mean 'count_words'?" in info.value.issues[0].message


def test_disabled_skills_are_unknown(alice, skills):
    Skill.objects.filter(name="count_words").update(enabled=False)
    with pytest.raises(Invalid):
        save_workflow(alice, USES)


async def test_expression_inputs_are_validated_once_resolved(alice, skills):
    text = ("name: late\nsteps:\n  - {id: n, uses: wait, with: {seconds: 0, value: 5}}\n"
            "  - {id: w, uses: count_words, with: {text: '${n}'}}\n")
    workflow = await sync_to_async(save_workflow)(alice, text)
    run = await execution.execute((await sync_to_async(create_run)(workflow, alice, {})).pk, send=False)
    assert run.status == "failed" and "5 is not of type 'string'" in run.error


async def test_the_example_skills_load_and_run(alice, settings):
    from django.core.management import call_command

    from examples.fake_llm import FakeLLM

    fake = FakeLLM()
    settings.WORKFLOW_LLM_CONNECTIONS = {"default": {"base_url": fake.base_url, "model": "fake-1"}}
    try:
        await sync_to_async(call_command)("loaddemo", stdout=open("/dev/null", "w"))
        text = ("name: skills-demo\nsteps:\n"
                "  - {id: regions, uses: sales_by_region, with: {start: '2025-02-01'}}\n"
                "  - {id: brief, uses: summarize_text, with: {text: 'North leads. South trails.', sentences: 1}}\n")
        workflow = await sync_to_async(save_workflow)(alice, text)
        run = await execution.execute((await sync_to_async(create_run)(workflow, alice, {})).pk, send=False)
    finally:
        fake.close()
    assert run.status == "succeeded", run.error
    assert run.outputs["regions"]["row_count"] == 4 and run.outputs["regions"]["columns"] == ["region", "total"]
    assert set(run.outputs["brief"]["data"]) == {"summary", "key_points"}
    names = {s.name async for s in Skill.objects.all()}
    assert {"summarize_text", "fetch_json", "sales_by_region"} <= names


async def test_a_workflow_step_runs_the_owners_saved_workflow_not_another_users(alice, bob):
    inner = "name: inner\ninputs: {n: integer}\nsteps:\n  - {id: x, uses: wait, with: {seconds: 0, value: '${inputs.n + 1}'}}\n"
    outer = "name: outer\nsteps:\n  - {id: call, uses: workflow, with: {name: inner, inputs: {n: 1}}}\n"
    await sync_to_async(save_workflow)(alice, inner)
    mine = await sync_to_async(save_workflow)(alice, outer)
    run = await execution.execute((await sync_to_async(create_run)(mine, alice, {})).pk, send=False)
    assert run.status == "succeeded" and run.outputs == {"call": {"x": 2}}
    assert await run.steps.filter(path="call.x", status="succeeded").aexists()
    with pytest.raises(Invalid, match="no workflow named 'inner'"):  # alice's inner is not bob's
        await sync_to_async(save_workflow)(bob, outer)
    # started while bob had an inner of his own, deleted before it ran: refused at run time too
    await sync_to_async(save_workflow)(bob, inner.replace("n + 1", "n + 100"))
    theirs = await sync_to_async(save_workflow)(bob, outer)
    queued = await sync_to_async(create_run)(theirs, bob, {})
    await Workflow.objects.filter(owner=bob, name="inner").adelete()
    run = await execution.execute(queued.pk, send=False)
    assert run.status == "failed" and "no workflow named 'inner'" in run.error
