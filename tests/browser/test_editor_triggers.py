"""Triggers in a real Chromium: a schedule added in the editor's workflow form shows its cron in
words and its next fire times and lands in the YAML; a webhook's token is shown once; the
workflow list turns a workflow's triggers off."""

import re

import pytest
import yaml
from playwright.sync_api import expect

from builder.models import Trigger, Workflow
from builder.services import save_workflow

from .conftest import login_as, yaml_text
from .test_accessibility import serious_violations

pytestmark = pytest.mark.django_db(transaction=True)

PLAIN = """version: 1
name: nightly-report
# the report
steps:
  - id: first
    uses: wait
    with: {seconds: 0.01, value: 1}   # quick
"""


def open_editor(page, server, workflow):
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()


def save(page, version: int) -> None:
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")
    page.get_by_role("button", name="Save", exact=True).click()
    page.click("[data-testid=save-confirm]")
    expect(page.locator("[data-testid=version-state]")).to_have_text(f"v{version} (saved)")


def test_add_a_schedule_see_its_words_and_next_times_and_save_it(page, server, alice, shot):
    workflow = save_workflow(alice, PLAIN)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    panel = page.locator("[data-testid=triggers-form]")
    expect(panel).to_contain_text("No triggers")
    panel.get_by_role("button", name="+ schedule").click()
    box = panel.locator("fieldset[data-trigger=schedule_1]")
    box.get_by_label("id", exact=True).fill("nightly")
    box = panel.locator("fieldset[data-trigger=nightly]")
    expect(box.get_by_role("button", name="Remove nightly")).to_be_visible()
    box.get_by_label("cron").fill("0 2 * * *")
    expect(box.locator("[data-testid=cron-text]")).to_have_text("At 02:00 AM (UTC)")
    times = box.locator("[data-testid=cron-next] time")
    expect(times).to_have_count(5)
    assert all(re.search(r"T02:00:00\+00:00$", t) for t in times.evaluate_all("ts => ts.map(t => t.dateTime)"))
    box.get_by_label("timezone").fill("Europe/Paris")
    expect(times.first).to_have_attribute("datetime", re.compile(r"T02:00:00\+0[12]:00$"))
    expect(box.locator("[data-testid=cron-text]")).to_have_text("At 02:00 AM (Europe/Paris)")
    box.get_by_label("cron").fill("0 2 * *")
    expect(box.locator("[data-testid=cron-text]")).to_contain_text("a schedule has 5")
    expect(times).to_have_count(0)
    box.get_by_label("cron").fill("0 2 * * *")
    expect(times).to_have_count(5)
    assert serious_violations(page) == []
    page.set_viewport_size({"width": 1024, "height": 800})
    panel.locator("h3").evaluate("h => h.scrollIntoView()")
    shot("1024")
    page.set_viewport_size({"width": 1400, "height": 900})
    panel.locator("h3").evaluate("h => h.scrollIntoView()")
    shot("1400")
    save(page, 2)
    text = yaml_text(page)
    assert "# the report" in text and "# quick" in text, "the rest of the YAML is as it was"
    saved = yaml.safe_load(Workflow.objects.get(pk=workflow.pk).yaml)
    assert saved["triggers"] == [{"id": "nightly", "schedule": "0 2 * * *", "timezone": "Europe/Paris"}]
    assert Trigger.objects.get(workflow=workflow, trigger_id="nightly").active


def test_a_webhook_token_is_made_for_the_saved_version_and_shown_once(page, server, alice, shot):
    workflow = save_workflow(alice, PLAIN)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    panel = page.locator("[data-testid=triggers-form]")
    panel.get_by_role("button", name="+ webhook").click()
    box = panel.locator("fieldset[data-trigger=webhook_1]")
    expect(box.get_by_role("button", name="Create token")).to_be_disabled()
    expect(box).to_contain_text("Save the workflow")
    save(page, 2)
    box.get_by_role("button", name="Create token").click()
    token = box.get_by_label("webhook token")
    expect(token).to_have_value(re.compile(r".{20,}"))
    url = box.get_by_label("webhook URL").input_value()
    assert url.startswith(server.url + "/hooks/") and token.input_value() in url
    expect(box.get_by_role("button", name="Rotate token")).to_be_enabled()
    assert serious_violations(page) == []
    shot()
    row = Trigger.objects.get(workflow=workflow, trigger_id="webhook_1")
    assert row.token_hint and token.input_value().endswith(row.token_hint)
    page.reload()
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    expect(page.locator("[data-testid=token-once]")).to_be_hidden()
    expect(panel).to_contain_text(f"ends in …{row.token_hint}")


def test_the_editor_and_the_list_turn_triggers_off_and_on(page, server, alice, shot):
    workflow = save_workflow(alice, PLAIN.replace("steps:", 'triggers:\n  - {id: nightly, schedule: "0 2 * * *"}\n'
                                                  "  - {id: from_ci, webhook: true}\nsteps:"))
    save_workflow(alice, PLAIN.replace("nightly-report", "no-triggers"))
    login_as(page, server, alice)
    page.goto(f"{server.url}/")
    row = page.locator(f"tr[data-workflow='{workflow.pk}']")
    expect(row.locator("[data-testid=triggers]")).to_contain_text("nightly")
    expect(row.locator("[data-testid=triggers] svg[data-mark=schedule]")).to_be_visible()  # not ⏰: no font has it
    expect(row.locator("[data-testid=triggers]")).to_contain_text("⚡ from_ci")
    switch = row.get_by_role("switch", name=f"Triggers of {workflow.name}")
    expect(switch).to_be_checked()
    switch.click()
    expect(row.locator(".switch")).to_contain_text("off")
    expect(switch).to_be_enabled()
    assert Workflow.objects.get(pk=workflow.pk).triggers_enabled is False
    assert serious_violations(page) == []
    for width in (1024, 1400):
        page.set_viewport_size({"width": width, "height": 700})
        shot(f"list-{width}")
    page.reload()
    expect(switch).not_to_be_checked()
    open_editor(page, server, workflow)
    editor_switch = page.locator("[data-testid=triggers-form]").get_by_role("switch")
    expect(editor_switch).not_to_be_checked()
    expect(editor_switch).to_be_enabled()
    expect(page.locator("[data-testid=triggers-form]")).to_contain_text("schedules do not fire")
    editor_switch.click()
    expect(page.locator("[data-testid=triggers-form] .switch")).to_have_text("Triggers on")
    expect(page.locator("[data-testid=triggers-form] .trigger-off")).to_be_hidden()
    assert Workflow.objects.get(pk=workflow.pk).triggers_enabled is True
    assert Workflow.objects.get(pk=workflow.pk).version == 1, "not a new version"
