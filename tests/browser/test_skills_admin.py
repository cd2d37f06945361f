"""The skills admin in a real Chromium: the action's parameters as a form, the confirm step
before breaking workflows, and "Try it" showing a real run's output."""

import re

import pytest
from playwright.sync_api import expect

from builder.models import Run, Skill
from builder.services import save_workflow
from tests.builder.skills_admin_kit import SHOUT, USES_SHOUT

from .conftest import login_as
from .skills_admin_kit import admin_server, shots  # noqa: F401
from .test_accessibility import serious_violations

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_action_is_chosen_from_a_list_and_its_parameters_are_a_form(page, admin_server, staff, shot):
    server = admin_server
    login_as(page, server, staff)
    page.goto(f"{server.url}/admin/builder/skill/add/")
    expect(page.locator("body[data-skill-form=ready]")).to_be_attached()
    page.fill("#id_name", "Bad.Name")
    page.select_option("#id_action", "python")
    params = page.locator("[data-testid=config-form] fieldset[data-action=python]")
    expect(params.locator("legend").first).to_have_text("Parameters of python")
    page.fill("#id_input_schema", '{"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}')
    page.locator("#id_input_schema").dispatch_event("input")
    expect(page.locator("[data-testid=inputs-hint]")).to_contain_text("${inputs.text}")
    params.get_by_label("Function", exact=True).fill("engine.functions.text:upper")
    params.get_by_role("button", name="+ Args item").click()
    params.get_by_label("Args 1 (YAML)").fill("${inputs.txt}")  # a typo: not declared
    assert serious_violations(page) == []
    shots(page, shot, "form")
    page.click("input[name=_save]")

    errors = page.locator(".errorlist")
    expect(page.locator(".field-name .errorlist")).to_contain_text("Use letters (a-z, A-Z), digits (0-9) and _ only")
    expect(page.locator(".field-config .errorlist")).to_contain_text("${inputs.txt} is not declared in the input schema")
    assert errors.count() >= 2 and not Skill.objects.exists()
    # the form is drawn again from the text the server sent back, the typo still in it
    params = page.locator("[data-testid=config-form] fieldset[data-action=python]")
    expect(params.get_by_label("Function", exact=True)).to_have_value("engine.functions.text:upper")
    page.fill("#id_name", "shout")
    params.get_by_label("Args 1 (YAML)").fill("${inputs.text}")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist .success")).to_contain_text("shout")
    skill = Skill.objects.get()
    assert skill.config == {"function": "engine.functions.text:upper", "args": ["${inputs.text}"]}


def test_changing_the_action_keeps_only_its_parameters(page, server, staff):
    skill = Skill.objects.create(**SHOUT)
    login_as(page, server, staff)
    page.goto(f"{server.url}/admin/builder/skill/{skill.pk}/change/")
    params = page.locator("[data-testid=config-form] fieldset[data-action=python]")
    expect(params.get_by_label("Function", exact=True)).to_have_value("engine.functions.text:upper")
    page.select_option("#id_action", "wait")
    wait = page.locator("[data-testid=config-form] fieldset[data-action=wait]")
    wait.get_by_label("Seconds", exact=True).fill("${inputs.text}")
    assert page.evaluate("JSON.parse(document.getElementById('id_config').value)") == {"seconds": "${inputs.text}"}


def test_a_change_that_breaks_a_workflow_lists_it_and_asks_to_confirm(page, admin_server, staff, alice, shot):
    server = admin_server
    skill = Skill.objects.create(**SHOUT)
    save_workflow(alice, USES_SHOUT)
    login_as(page, server, staff)
    page.goto(f"{server.url}/admin/builder/skill/{skill.pk}/change/")
    expect(page.locator("[data-testid=used-by-summary]")).to_have_text("1 workflow of 1 owner")
    expect(page.locator("ul.used-by")).to_contain_text("loud · alice · v1")
    page.uncheck("#id_enabled")
    page.click("input[name=_save]")
    expect(page.locator("[data-testid=breaks]")).to_contain_text("This would break 1 workflow of 1 owner")
    expect(page.locator("[data-testid=broken-workflow]")).to_contain_text("loud")
    assert Skill.objects.get().enabled
    assert serious_violations(page) == []
    shots(page, shot, "breaks")
    page.click("[data-testid=save-anyway]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert not Skill.objects.get().enabled


def test_try_it_runs_the_skill_and_shows_its_output_or_error(page, server, staff, shot):
    skill = Skill.objects.create(**SHOUT)
    login_as(page, server, staff)
    page.goto(f"{server.url}/admin/builder/skill/{skill.pk}/change/")
    page.click("[data-testid=try-link]")
    expect(page.locator("body[data-skill-try=ready]")).to_be_attached()
    page.locator("#sample-form").get_by_label("text", exact=True).fill("hello there")
    page.click("[data-testid=try-run]")
    result = page.locator("[data-testid=try-result]")
    expect(result).to_have_attribute("data-status", "succeeded", timeout=15000)
    expect(page.locator("[data-testid=try-output]")).to_contain_text('"try_it": "HELLO THERE"')
    expect(page.locator("[data-testid=try-duration]")).to_have_text(re.compile(r"^in \d+ ms$"))
    run = Run.objects.get()
    assert run.started_by == staff and run.workflow.owner == staff and run.status == "succeeded"
    assert serious_violations(page) == []
    shots(page, shot, "try")

    # a sample the schema refuses is said before anything runs
    page.locator("#sample-form").get_by_label("text", exact=True).fill("")
    page.click("[data-testid=try-run]")
    expect(page.locator("[data-testid=try-problems]")).to_contain_text("'text' is a required property")
    assert Run.objects.count() == 1


def test_try_it_shows_the_error_of_a_failed_run(page, server, staff):
    skill = Skill.objects.create(name="fetch_it", action="http", config={"url": "${inputs.url}"},
                                 input_schema={"type": "object", "properties": {"url": {"type": "string"}}})
    login_as(page, server, staff)
    page.goto(f"{server.url}/admin/builder/skill/{skill.pk}/try/")
    page.locator("#sample-form").get_by_label("url", exact=True).fill("http://127.0.0.1:9/")
    page.click("[data-testid=try-run]")
    expect(page.locator("[data-testid=try-result]")).to_have_attribute("data-status", "failed", timeout=15000)
    expect(page.locator("[data-testid=try-error]")).to_contain_text("refused: 127.0.0.1")


def test_disabling_from_the_list_asks_first_and_names_the_workflows(page, server, staff, alice, shot):
    Skill.objects.create(**SHOUT)
    save_workflow(alice, USES_SHOUT)
    login_as(page, server, staff)
    page.goto(f"{server.url}/admin/builder/skill/")
    page.locator("input[name=_selected_action]").check()
    page.select_option("select[name=action]", "disable")
    page.click("button[name=index]")
    expect(page.locator("[data-testid=breaks]")).to_contain_text("This would break 1 workflow of 1 owner")
    expect(page.locator("[data-testid=broken-workflow]")).to_contain_text("unknown action 'shout'")
    assert Skill.objects.get().enabled
    assert serious_violations(page) == []
    shots(page, shot, "disable")
    page.click("[data-testid=disable-anyway]")
    expect(page.locator(".messagelist .success")).to_contain_text("1 skill(s) disabled")
    assert not Skill.objects.get().enabled
