"""The last run on the editor's cards and trying one step with it, in Chromium: each card shows
its status, duration and a peek at its output in the version's latest run; "Try" runs one step
of the unsaved text with that run's outputs and shows what it returned, recorded as a run."""

import re

import pytest
from playwright.sync_api import expect

from builder.models import Run, Workflow
from builder.services import save_workflow

from .conftest import login_as, yaml_text
from .test_accessibility import serious_violations
from .test_editor_defects import open_editor, shots
from .test_monitor import run_from_editor

pytestmark = pytest.mark.django_db(transaction=True)

FLOW = """version: 1
name: pinned
steps:
  - {id: fetch, uses: wait, with: {seconds: 0, value: {rows: [3, 4], note: "a rather long output that a card cuts short with an ellipsis at its end"}}}
  - id: both
    parallel:
      - {id: left, uses: wait, with: {seconds: 0, value: "${fetch.rows[0] * 10}"}}
      - {id: right, uses: fail, with: {message: right went wrong}}
    on_error: continue
  - {id: total, uses: wait, with: {seconds: 0.05, value: "${fetch.rows[1] + 1}"}}
"""


def finished_run(page, server, workflow) -> int:
    run_id = run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", re.compile("succeeded|failed"),
                                                                       timeout=15000)
    return run_id


def test_cards_show_the_last_run_and_a_step_is_tried_with_its_outputs(page, server, alice, shot):
    workflow = save_workflow(alice, FLOW)
    login_as(page, server, alice)
    run_id = finished_run(page, server, workflow)
    open_editor(page, server, workflow)
    expect(page.get_by_test_id("canvas")).to_have_attribute("data-last-run", str(run_id))

    fetch = page.locator(".card[data-id=fetch] > [data-testid=last-run]")
    expect(fetch).to_contain_text("✓ succeeded")
    expect(fetch.get_by_test_id("peek")).to_contain_text('{"rows": [3, 4]')
    expect(page.locator(".card[data-id=left] > [data-testid=last-run]")).to_contain_text("✓ succeeded")
    right = page.locator(".card[data-id=right] > [data-testid=last-run]")
    expect(right).to_contain_text("✕ failed")
    expect(right.get_by_test_id("peek")).to_contain_text("right went wrong")
    expect(page.locator(".card[data-id=total] > [data-testid=last-run]")).to_contain_text(re.compile(r"\d+ ms"))
    shots(page, shot, "last-run")

    # an unsaved edit, tried at once with the run's outputs (fetch.rows = [3, 4])
    page.locator(".card[data-id=total]").click()
    value = page.get_by_test_id("with-form").get_by_label("Value (YAML)")
    value.fill("${fetch.rows[1] * 100 + left}")
    page.locator(".card[data-id=total] [data-testid=try-step]").click()
    dialog = page.locator("dialog[data-dialog=try]")
    expect(dialog.get_by_test_id("try-status")).to_contain_text("✓ succeeded", timeout=15000)
    expect(dialog.get_by_test_id("try-output")).to_have_text("430")
    expect(dialog.get_by_test_id("try-context")).to_contain_text(f"From run #{run_id}: reused fetch, both")
    expect(dialog.get_by_test_id("try-context")).to_contain_text("Your unsaved text was tried; nothing was saved.")
    assert serious_violations(page) == []
    shot("tried")
    trial = Run.objects.get(mode="try")
    assert trial.workflow_id == workflow.pk and trial.origin_detail["try"] == "total"
    assert dialog.get_by_test_id("try-link").get_attribute("href") == f"/runs/{trial.pk}/"
    assert Workflow.objects.get(pk=workflow.pk).version == 1
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_test_id("version-state")).to_have_text("v1 (unsaved changes)")  # the edit is kept
    assert "  - {id: fetch, uses: wait, with: {seconds: 0, value: {rows: [3, 4]" in yaml_text(page)  # flow style kept as written
    page.get_by_role("button", name="Runs", exact=True).click()  # listed with the workflow's runs, as a trial
    expect(page.locator("[data-testid=run-row]", has_text=f"#{trial.pk}")).to_contain_text("v1 · try of total")
    # the dialog lists the latest 25; every run of the workflow is a link away, filtered on /runs/
    assert page.get_by_test_id("all-runs").get_attribute("href") == f"/runs/?workflow={workflow.pk}"
    page.locator("dialog[data-dialog=runs]").get_by_role("button", name="Close").click()
    # the trial is not "the last run": the cards still show the run
    page.reload()
    expect(page.get_by_test_id("canvas")).to_have_attribute("data-last-run", str(run_id))


def test_a_step_that_cannot_be_tried_says_why_and_a_new_version_has_no_last_run(page, server, alice):
    workflow = save_workflow(alice, FLOW)
    login_as(page, server, alice)
    finished_run(page, server, workflow)
    open_editor(page, server, workflow)
    expect(page.locator(".card[data-id=fetch] > [data-testid=last-run]")).to_be_visible()
    page.locator(".card[data-id=left]").click()
    page.get_by_test_id("with-form").get_by_label("Value (YAML)").fill("${nothing_like_this}")
    page.locator(".card[data-id=left] [data-testid=try-step]").click()
    dialog = page.locator("dialog[data-dialog=try]")
    expect(dialog.get_by_test_id("try-error")).to_contain_text("Not tried: the text does not load")
    expect(dialog).to_contain_text("unknown reference 'nothing_like_this'")
    assert not Run.objects.filter(mode="try").exists()
    dialog.get_by_role("button", name="Close").click()

    page.locator(".card[data-id=left]").click()
    page.get_by_test_id("with-form").get_by_label("Value (YAML)").fill("fixed")
    page.get_by_role("button", name="Save", exact=True).click()
    page.click("[data-testid=save-confirm]")
    expect(page.get_by_test_id("version-state")).to_have_text("v2 (saved)")
    expect(page.locator("[data-testid=last-run]")).to_have_count(0)  # v2 has not run yet
