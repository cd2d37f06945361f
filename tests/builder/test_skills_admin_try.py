""""Try it": a skill run once from the admin with sample inputs, as a real recorded run of the
admin's own, through the embedded mode's ordinary path; hostile samples stay inside it."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client

from builder.models import Run, Skill, Workflow
from builder.services import save_workflow
from builder.skill_usage import impact, users_of

from .skills_admin_kit import USES_SHOUT, make_shout

pytestmark = pytest.mark.django_db(transaction=True)
FETCH = {"name": "fetch_it", "action": "http", "config": {"url": "${inputs.url}"},
         "input_schema": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}}


async def try_it(client, skill, sample) -> "Run":
    """POST the sample; follow the run it started to its end."""
    response = await client.post(f"/admin/builder/skill/{skill.pk}/try/", {"sample": json.dumps(sample)})
    assert response.status_code == 302, response.content.decode()[-2000:]
    run_id = int(response["Location"].split("?run=")[1])
    for _ in range(200):
        run = await Run.objects.select_related("workflow__owner", "started_by").aget(pk=run_id)
        if run.finished:
            return run
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end: {run.status}")


@pytest.fixture
async def admin_client(staff):
    client = AsyncClient()
    await client.aforce_login(staff)
    return client


async def test_a_try_is_a_recorded_run_of_the_admin_with_its_output(admin_client, staff):
    skill = await sync_to_async(make_shout)()
    run = await try_it(admin_client, skill, {"text": "hello"})
    assert run.status == "succeeded" and run.outputs == {"try_it": "HELLO"}
    assert run.started_by == staff and run.workflow.owner == staff and run.mode == "embedded"
    assert run.workflow.name == "try-skill-shout"
    step = await run.steps.aget(path="try_it")
    assert step.uses == "shout" and step.inputs == {"text": "hello"}
    page = (await admin_client.get(f"/admin/builder/skill/{skill.pk}/try/?run={run.pk}")).content.decode()
    assert 'data-status="succeeded"' in page and "&quot;HELLO&quot;" in page and f'href="/runs/{run.pk}/"' in page
    assert "&quot;text&quot;: &quot;hello&quot;" in page  # the sample it ran with, shown again
    again = await try_it(admin_client, skill, {"text": "again"})
    workflow = await Workflow.objects.aget(pk=again.workflow_id)
    assert workflow.version == 1  # the same text: no new version for every try


async def test_a_failure_shows_its_error(admin_client):
    skill = await sync_to_async(Skill.objects.create)(**FETCH)
    run = await try_it(admin_client, skill, {"url": "http://127.0.0.1:9/secret"})
    assert run.status == "failed" and "refused: 127.0.0.1" in run.error  # the http sandbox holds
    page = (await admin_client.get(f"/admin/builder/skill/{skill.pk}/try/?run={run.pk}")).content.decode()
    assert 'data-status="failed"' in page and "refused: 127.0.0.1" in page


async def test_a_sample_holding_an_expression_is_text_not_evaluated(admin_client, monkeypatch):
    monkeypatch.setenv("WORKFLOW_SECRET_TOKEN", "s3cret-value")
    skill = await sync_to_async(make_shout)()
    run = await try_it(admin_client, skill, {"text": "${secrets.TOKEN} ${inputs} }}\n{{"})
    assert run.status == "succeeded", run.error
    assert run.outputs == {"try_it": "${SECRETS.TOKEN} ${INPUTS} }}\n{{"}
    assert "S3CRET" not in json.dumps(run.outputs)


@pytest.mark.parametrize("sample, status, message", [
    ("{not json", 400, "the sample inputs are not valid JSON"),
    ("[1, 2]", 400, "the sample inputs must be a JSON object"),
    ('{"txt": "x"}', 400, "inputs: &#x27;text&#x27; is a required property"),
    ('{"text": 5}', 400, "text: 5 is not of type &#x27;string&#x27;"),
    ('{"text": "a\\u0000b"}', 400, "text may not contain the NUL character"),
    ('{"text": "' + "x" * 70_000 + '"}', 400, "larger than 64 KB"),
    ("[" * 5000 + "]" * 5000, 400, "the sample inputs"),
])
def test_bad_samples_are_refused_clearly_and_nothing_runs(client, staff, sample, status, message):
    skill = make_shout()
    client.force_login(staff)
    response = client.post(f"/admin/builder/skill/{skill.pk}/try/", {"sample": sample})
    assert response.status_code == status
    assert message in response.content.decode()
    assert not Run.objects.exists()


def test_a_disabled_skill_says_to_enable_it_first(client, staff):
    skill = make_shout(enabled=False)
    client.force_login(staff)
    response = client.post(f"/admin/builder/skill/{skill.pk}/try/", {"sample": '{"text": "x"}'})
    assert response.status_code == 400 and "is disabled" in response.content.decode()
    assert not Run.objects.exists()


def test_an_own_workflow_of_that_name_is_never_overwritten(client, staff):
    skill = make_shout()
    save_workflow(staff, "name: try-skill-shout\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0}}\n")
    client.force_login(staff)
    response = client.post(f"/admin/builder/skill/{skill.pk}/try/", {"sample": '{"text": "x"}'})
    assert response.status_code == 400 and "rename it" in response.content.decode()
    assert Workflow.objects.get().version == 1


def test_try_is_for_staff_only(client, alice):
    skill = make_shout()
    url = f"/admin/builder/skill/{skill.pk}/try/"
    for who in (None, alice):
        if who:
            client.force_login(who)
        for response in (client.get(url), client.post(url, {"sample": '{"text": "x"}'})):
            assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not Run.objects.exists()


def test_try_needs_the_csrf_token_and_a_real_skill(staff):
    skill = make_shout()
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(f"/admin/builder/skill/{skill.pk}/try/", {"sample": '{"text": "x"}'}).status_code == 403
    assert not Run.objects.exists()
    assert client.get("/admin/builder/skill/99999/try/").status_code == 404
    assert client.get("/admin/builder/skill/abc/try/").status_code == 404


def test_another_users_run_is_not_shown_on_the_try_page(client, staff, alice, workflow):
    from builder.services import create_run

    skill = make_shout()
    run = create_run(workflow, alice, {})
    client.force_login(staff)
    page = client.get(f"/admin/builder/skill/{skill.pk}/try/?run={run.pk}").content.decode()
    assert 'data-testid="try-result"' not in page


async def test_the_try_workflow_is_not_counted_as_a_user_of_the_skill(admin_client, alice):
    skill = await sync_to_async(make_shout)()
    await try_it(admin_client, skill, {"text": "x"})
    await sync_to_async(save_workflow)(alice, USES_SHOUT)
    users = await sync_to_async(users_of)("shout")
    assert [w.name for w in users] == ["loud"]
    breaks = await sync_to_async(impact)([("shout", None, skill.pk)])
    assert [b.workflow.name for b in breaks.items] == ["loud"]


async def test_a_left_out_input_with_a_default_gets_its_default(admin_client):
    skill = await sync_to_async(Skill.objects.create)(
        name="top", action="python", config={"function": "engine.functions.text:top_words",
                                             "args": ["${inputs.text}", "${inputs.n}"]},
        input_schema={"type": "object", "required": ["text", "n"],
                      "properties": {"text": {"type": "string"}, "n": {"type": "integer", "default": 1}}})
    run = await try_it(admin_client, skill, {"text": "b a b"})
    assert run.status == "succeeded" and run.outputs == {"try_it": [{"word": "b", "count": 2}]}
    assert run.inputs == {"i0": "b a b", "i1": 1}
