"""The skills admin in a real Chromium: a skill's history with its diff and a restore, and the
skills moved out and in as one YAML file."""

import json

import pytest
import yaml
from playwright.sync_api import expect

from builder.models import Skill, SkillChange
from tests.builder.skills_admin_kit import SHOUT

from .conftest import ROOT, login_as
from .skills_admin_kit import admin_server, shots  # noqa: F401
from .test_accessibility import serious_violations

pytestmark = pytest.mark.django_db(transaction=True)
EXAMPLES = ROOT / "examples" / "skills" / "skills.yaml"


def test_history_shows_the_diff_and_restores_an_earlier_state(page, admin_server, staff, shot):
    server = admin_server
    login_as(page, server, staff)
    page.goto(f"{server.url}/admin/builder/skill/add/")
    page.fill("#id_name", "shout")
    page.fill("#id_title", "Shout")
    page.fill("#id_input_schema", json.dumps(SHOUT["input_schema"]))
    page.locator("#id_input_schema").dispatch_event("input")
    page.select_option("#id_action", "python")
    params = page.locator("[data-testid=config-form] fieldset[data-action=python]")
    params.get_by_label("Function", exact=True).fill("engine.functions.text:upper")
    params.get_by_role("button", name="+ Args item").click()
    params.get_by_label("Args 1 (YAML)").fill("${inputs.text}")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_be_visible()

    page.fill("#id_title", "Shout louder")
    params = page.locator("[data-testid=config-form] fieldset[data-action=python]")
    params.get_by_label("Function", exact=True).fill("engine.functions.text:word_count")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert Skill.objects.get().config["function"] == "engine.functions.text:word_count"

    page.click("a.historylink")
    changes = page.locator("[data-testid=change]")
    expect(changes).to_have_count(2)
    newest = changes.first
    expect(newest).to_have_attribute("data-kind", "changed")
    expect(newest).to_contain_text("by sam")
    expect(newest.locator(".diff-del")).to_contain_text('"function": "engine.functions.text:upper"')
    expect(newest.locator(".diff-add")).to_contain_text('"function": "engine.functions.text:word_count"')
    expect(newest.locator(".diff-scalar")).to_contain_text("Shout → Shout louder")
    assert serious_violations(page) == []
    shots(page, shot, "history")

    changes.last.locator("[data-testid=restore-link]").click()
    expect(page.locator(".diff-scalar")).to_contain_text("Shout louder → Shout")
    assert serious_violations(page) == []
    page.click("[data-testid=restore]")
    expect(page.locator(".messagelist .success")).to_contain_text("is restored")
    skill = Skill.objects.get()
    assert skill.title == "Shout" and skill.config["function"] == "engine.functions.text:upper"
    assert SkillChange.objects.order_by("id").last().kind == "restored"


def test_skills_are_exported_and_imported_as_one_yaml_file(page, server, staff, shot):
    login_as(page, server, staff)
    page.goto(f"{server.url}/admin/builder/skill/")
    page.click("[data-testid=import-link]")
    # a bad file first: every problem named by its skill, nothing imported
    bad = EXAMPLES.read_text().replace("action: wait", "action: wiat").replace('"${inputs.text}", "${inputs.n}"',
                                                                               '"${inputs.text}", "${inputs.count}"')
    page.fill("#id_text", bad)
    page.click("[data-testid=import]")
    problems = page.locator("[data-testid=import-problems]")
    expect(problems).to_contain_text("skill 'pause': action: unknown action 'wiat' (did you mean 'wait'?)")
    expect(problems).to_contain_text("skill 'top_words': config: config.args[1]: ${inputs.count} is not declared")
    assert not Skill.objects.exists()
    assert serious_violations(page) == []
    shots(page, shot, "import-problems")

    page.set_input_files("#id_file", str(EXAMPLES))
    page.fill("#id_text", "")
    page.click("[data-testid=import]")
    expected = yaml.safe_load(EXAMPLES.read_text())
    expect(page.locator(".messagelist .success")).to_contain_text(f"Imported {len(expected)} skill(s)")
    expect(page.locator("#result_list tbody tr")).to_have_count(len(expected))
    assert serious_violations(page) == []
    shots(page, shot, "skills-list")

    with page.expect_download() as info:
        page.click("[data-testid=export-link]")
    download = info.value
    assert download.suggested_filename == "skills.yaml"
    exported = yaml.safe_load(open(download.path()).read())
    assert sorted(exported, key=lambda s: s["name"]) == sorted(expected, key=lambda s: s["name"])


def test_a_deleted_skill_is_restored_from_the_deleted_skills_page(page, admin_server, staff, shot):
    server = admin_server
    skill = Skill.objects.create(**SHOUT)
    login_as(page, server, staff)
    page.goto(f"{server.url}/admin/builder/skill/{skill.pk}/delete/")
    page.click("input[type=submit]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    page.click("[data-testid=deleted-link]")
    row = page.locator("[data-testid=deleted-skill][data-name=shout]")
    expect(row).to_contain_text("deleted by sam")
    assert serious_violations(page) == []
    shots(page, shot, "deleted")
    row.locator("[data-testid=restore-deleted]").click()
    expect(page.locator(".messagelist .success")).to_contain_text("'shout' is back")
    assert Skill.objects.get().config == SHOUT["config"]
