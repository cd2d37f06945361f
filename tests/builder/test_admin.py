"""The admin: staff manage skills, whose configuration and schemas are validated on save."""

import pytest

from builder.models import Skill

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "shout", "title": "Shout", "description": "upper-case a text", "category": "Text",
    "action": "python", "config": '{"function": "engine.functions.text:upper", "args": ["${inputs.text}"]}',
    "input_schema": '{"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}',
    "output_schema": '{"type": "string"}', "concurrency": "2", "enabled": "on",
}


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def post(client, **changes):
    return client.post("/admin/builder/skill/add/", {**GOOD, **changes})


def test_staff_create_a_valid_skill(staff_client):
    response = post(staff_client)
    assert response.status_code == 302, response.content.decode()[:2000]
    skill = Skill.objects.get(name="shout")
    assert skill.config["function"] == "engine.functions.text:upper" and skill.concurrency == 2


@pytest.mark.parametrize("changes, field, message", [
    ({"name": "wait"}, "name", "built-in action"),
    ({"action": "pyton"}, "action", "did you mean &#x27;python&#x27;"),
    ({"config": '{"function": "not a path"}'}, "config", "config.function"),
    ({"config": '{"function": "m:f", "bogus": 1}'}, "config", "unknown parameter"),
    ({"config": '{"function": "${secrets.X}"}'}, "config", "may refer only to"),
    ({"input_schema": '{"type": "nonsense"}'}, "input_schema", "is not valid"),
    ({"output_schema": '{"type": 5}'}, "output_schema", "is not valid"),
    ({"config": '{"function": "engine.functions.text:upper", "args": ["a\\u0000b"]}'}, "config",
     "config.args[0]: text may not contain the NUL character"),  # PostgreSQL's JSON cannot hold it
])
def test_invalid_skills_are_refused_with_the_reason(staff_client, changes, field, message):
    response = post(staff_client, **changes)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and message.replace("&#x27;", "'") in str(errors[field]).replace("&#x27;", "'")
    assert not Skill.objects.exists()


def test_enable_and_disable_actions(staff_client):
    post(staff_client)
    skill = Skill.objects.get()
    staff_client.post("/admin/builder/skill/", {"action": "disable", "_selected_action": [skill.pk]})
    skill.refresh_from_db()
    assert not skill.enabled
    staff_client.post("/admin/builder/skill/", {"action": "enable", "_selected_action": [skill.pk]})
    skill.refresh_from_db()
    assert skill.enabled


def test_non_staff_cannot_reach_skills(client, alice):
    client.force_login(alice)
    response = client.get("/admin/builder/skill/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_runs_are_read_only_in_the_admin(staff_client, alice, workflow):
    from builder.services import create_run

    run = create_run(workflow, alice, {})
    assert staff_client.get(f"/admin/builder/run/{run.pk}/change/").status_code == 200
    assert staff_client.get("/admin/builder/run/add/").status_code == 403
    page = staff_client.get("/admin/builder/workflow/").content.decode()
    assert "simple" in page
