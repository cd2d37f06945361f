"""The skill form: the action chosen from a list, undeclared ${inputs.x} refused, a name rule
said in words, "Used by", and a confirm step before a change breaks workflows."""

import json

import pytest

from builder.models import Skill, SkillChange
from builder.services import save_workflow

from .skills_admin_kit import USES_SHOUT, form_data, make_shout, staff_client  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_action_is_a_select_of_the_built_in_actions_with_their_schemas(staff_client):
    page = staff_client.get("/admin/builder/skill/add/")
    form = page.context["adminform"].form
    names = [value for value, _ in form.fields["action"].widget.choices if value]
    assert {"http", "llm", "python", "sql", "wait", "transform"} <= set(names)
    html = page.content.decode()
    assert '<select name="action"' in html and 'id="action-schemas"' in html
    schemas = json.loads(html.split('id="action-schemas" type="application/json">')[1].split("</script>")[0])
    python = next(a for a in schemas if a["name"] == "python")
    assert "function" in python["schema"]["properties"]
    assert "admin/skill-form.js" in html


def test_an_undeclared_input_in_the_config_is_refused_with_the_declared_ones(staff_client):
    config = {"function": "engine.functions.text:upper", "args": ["${inputs.txt}"]}
    response = staff_client.post("/admin/builder/skill/add/", form_data(config=config))
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors["config"])
    assert "${inputs.txt} is not declared in the input schema (its properties: text)" in errors
    assert not Skill.objects.exists()


@pytest.mark.parametrize("expression", ["${inputs['txt']}", "${ inputs.txt | default('') }", "${inputs.text + inputs.txt}"])
def test_undeclared_inputs_are_found_in_any_expression(staff_client, expression):
    config = {"function": "engine.functions.text:upper", "args": [f"say {expression}"]}
    response = staff_client.post("/admin/builder/skill/add/", form_data(config=config))
    assert "inputs.txt} is not declared" in str(response.context["adminform"].form.errors.get("config"))


def test_declared_inputs_and_other_names_pass(staff_client):
    config = {"function": "engine.functions.text:upper", "args": ["${inputs.text} and ${inputs['text']}"]}
    response = staff_client.post("/admin/builder/skill/add/", form_data(config=config))
    assert response.status_code == 302, response.context["adminform"].form.errors


@pytest.mark.parametrize("name", ["My.Skill", "2fast", "with space", "dash-ed", "é"])
def test_an_invalid_name_says_which_characters_are_allowed(staff_client, name):
    response = staff_client.post("/admin/builder/skill/add/", form_data(name=name))
    errors = str(response.context["adminform"].form.errors["name"])
    assert "Use letters (a-z, A-Z), digits (0-9) and _ only, starting with a letter or _" in errors
    assert "Enter a valid value" not in errors


def test_used_by_lists_the_workflows_and_their_owners(staff_client, alice, bob):
    skill = make_shout()
    save_workflow(alice, USES_SHOUT)
    save_workflow(bob, USES_SHOUT.replace("loud", "loud-too"))
    save_workflow(bob, "name: quiet\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0, value: shout}}\n")
    page = staff_client.get(f"/admin/builder/skill/{skill.pk}/change/").content.decode()
    assert "2 workflows of 2 owners" in page
    assert ">loud</a> · alice · v1" in page and ">loud-too</a> · bob · v1" in page
    assert ">quiet</a>" not in page  # the name in a value is no use


def test_used_by_finds_the_skill_inside_blocks(staff_client, alice):
    skill = make_shout()
    save_workflow(alice, "name: nested\nsteps:\n  - id: p\n    parallel:\n"
                         "      - {id: x, uses: wait, with: {seconds: 0}}\n      - {id: y, uses: shout, with: {text: a}}\n")
    assert "1 workflow of 1 owner" in staff_client.get(f"/admin/builder/skill/{skill.pk}/change/").content.decode()


def test_a_change_that_breaks_workflows_asks_first_then_saves_when_confirmed(staff_client, alice):
    skill = make_shout()
    save_workflow(alice, USES_SHOUT)
    schema = {"type": "object", "properties": {"words": {"type": "string"}}, "required": ["words"]}
    data = form_data(skill, input_schema=schema, config={"function": "engine.functions.text:upper",
                                                         "args": ["${inputs.words}"]})
    response = staff_client.post(f"/admin/builder/skill/{skill.pk}/change/", data)
    assert response.status_code == 200
    page = response.content.decode().replace("&#x27;", "'")
    assert "Saving this would break 1 workflow of 1 owner" in page
    assert 'data-testid="broken-workflow"' in page and "'words' is a required property" in page
    skill.refresh_from_db()
    assert skill.input_schema["required"] == ["text"]  # not saved
    fingerprint = response.context["adminform"].form.breaks.fingerprint
    assert f'name="confirm_breaking" value="{fingerprint}"' in page
    wrong = staff_client.post(f"/admin/builder/skill/{skill.pk}/change/", {**data, "confirm_breaking": "nope"})
    assert wrong.status_code == 200
    done = staff_client.post(f"/admin/builder/skill/{skill.pk}/change/", {**data, "confirm_breaking": fingerprint})
    assert done.status_code == 302
    skill.refresh_from_db()
    assert skill.input_schema["required"] == ["words"]


def test_a_harmless_change_saves_without_asking(staff_client, alice):
    skill = make_shout()
    save_workflow(alice, USES_SHOUT)
    response = staff_client.post(f"/admin/builder/skill/{skill.pk}/change/", form_data(skill, title="Louder"))
    assert response.status_code == 302


def test_disabling_in_the_form_asks_first(staff_client, alice):
    skill = make_shout()
    save_workflow(alice, USES_SHOUT)
    response = staff_client.post(f"/admin/builder/skill/{skill.pk}/change/", form_data(skill, enabled=False))
    assert "Saving this would break 1 workflow" in response.content.decode()
    assert Skill.objects.get().enabled


def test_the_disable_action_has_a_confirm_step(staff_client, alice):
    skill = make_shout()
    save_workflow(alice, USES_SHOUT)
    response = staff_client.post("/admin/builder/skill/", {"action": "disable", "_selected_action": [skill.pk]})
    assert response.status_code == 200
    page = response.content.decode()
    assert "This would break 1 workflow of 1 owner" in page and 'data-testid="disable-anyway"' in page
    assert Skill.objects.get().enabled
    fingerprint = page.split('name="confirm_breaking" value="')[1].split('"')[0]
    response = staff_client.post("/admin/builder/skill/", {"action": "disable", "_selected_action": [skill.pk],
                                                           "confirm_breaking": fingerprint})
    assert response.status_code == 302 and not Skill.objects.get().enabled
    assert SkillChange.objects.get(kind="disabled").before["enabled"] is True


def test_the_delete_page_lists_what_deleting_breaks(staff_client, alice):
    skill = make_shout()
    save_workflow(alice, USES_SHOUT)
    page = staff_client.get(f"/admin/builder/skill/{skill.pk}/delete/").content.decode()
    assert "This would break 1 workflow of 1 owner" in page
    staff_client.post(f"/admin/builder/skill/{skill.pk}/delete/", {"post": "yes"})
    assert not Skill.objects.exists()
    change = SkillChange.objects.get(kind="deleted")
    assert change.name == "shout" and change.after is None and change.before["action"] == "python"


def test_saves_are_kept_in_the_history_with_who(staff_client, staff):
    staff_client.post("/admin/builder/skill/add/", form_data())
    skill = Skill.objects.get()
    staff_client.post(f"/admin/builder/skill/{skill.pk}/change/", form_data(skill, title="Louder"))
    kinds = list(SkillChange.objects.order_by("id").values_list("kind", "user__username"))
    assert kinds == [("created", "sam"), ("changed", "sam")]
    last = SkillChange.objects.order_by("id").last()
    assert last.before["title"] == "Shout" and last.after["title"] == "Louder"


def test_renaming_a_skill_that_workflows_use_asks_first(staff_client, alice):
    skill = make_shout()
    save_workflow(alice, USES_SHOUT)
    response = staff_client.post(f"/admin/builder/skill/{skill.pk}/change/", form_data(skill, name="yell"))
    assert "Saving this would break 1 workflow of 1 owner" in response.content.decode()
    assert Skill.objects.get().name == "shout"


def test_a_new_skill_shows_an_empty_output_schema_not_null(staff_client):
    form = staff_client.get("/admin/builder/skill/add/").context["adminform"].form
    assert form["output_schema"].value() == "" and "null" not in str(form["output_schema"])
    assert staff_client.post("/admin/builder/skill/add/", form_data(output_schema=None)).status_code == 302
    assert Skill.objects.get().output_schema is None


def test_the_bulk_delete_confirmation_lists_what_it_breaks_and_keeps_the_history(staff_client, alice):
    skill = make_shout()
    save_workflow(alice, USES_SHOUT)
    response = staff_client.post("/admin/builder/skill/", {"action": "delete_selected", "_selected_action": [skill.pk]})
    assert "This would break 1 workflow of 1 owner" in response.content.decode()
    staff_client.post("/admin/builder/skill/", {"action": "delete_selected", "_selected_action": [skill.pk],
                                                "post": "yes"})
    assert not Skill.objects.exists() and SkillChange.objects.get().kind == "deleted"
