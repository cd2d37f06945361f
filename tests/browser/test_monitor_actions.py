"""The monitor's actions in a real Chromium: resume with the latest version (and its refusal
said in the banner), restart from a step (and a refused starting point said in the pane), and
the /runs/ page's links to the monitor."""

import re

import pytest
from playwright.sync_api import expect

from builder.models import Run
from builder.services import save_workflow

from .conftest import login_as
from .monitor_kit import keep, open_monitor
from .test_monitor import run_from_editor

pytestmark = pytest.mark.django_db(transaction=True)

BROKEN = """version: 1
name: fix-me
steps:
  - {id: prepare, uses: wait, with: {seconds: 0, value: ready}}
  - {id: check, uses: fail, with: {message: "version one is broken"}}
"""
FIXED = BROKEN.replace('{id: check, uses: fail, with: {message: "version one is broken"}}',
                       "{id: check, uses: wait, with: {seconds: 0, value: fixed}}")


def new_run_id(page, old: int) -> int:
    page.wait_for_url(lambda url: re.search(r"/runs/(\d+)/", url) and f"/runs/{old}/" not in url)
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    return int(re.search(r"/runs/(\d+)/", page.url).group(1))


def test_resume_with_the_latest_version_and_a_refusal_in_the_banner(page, server, alice, shot):
    workflow = save_workflow(alice, BROKEN)
    login_as(page, server, alice)
    first = run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "failed", timeout=10000)
    save_workflow(alice, FIXED, "fixed", workflow)
    page.get_by_role("button", name="Resume (latest)").click()
    second = new_run_id(page, first)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=10000)
    expect(page.get_by_text(f"resumed from #{first}")).to_be_visible()
    expect(page.locator(".wf-title")).to_contain_text("v2")
    expect(page.locator("[data-testid=resume-report]")).to_have_text(
        "resumed with the latest version (version 1 → 2): reused prepare.")
    expect(page.locator(".card[data-id=prepare] [data-testid=card-status]")).to_have_text(f"✓ reused from #{first}")
    assert Run.objects.get(pk=second).version.number == 2

    page.get_by_role("button", name="Resume (latest)").click()  # succeeded with the latest: nothing to resume
    banner = page.locator("[data-testid=run-error]")
    expect(banner).to_contain_text("Could not resume with the latest version: nothing to resume")
    assert f"/runs/{second}/" in page.url
    keep(shot("resume-refused"))


RESTARTABLE = """version: 1
name: restartable
steps:
  - {id: one, uses: wait, with: {seconds: 0, value: 1}}
  - {id: two, uses: wait, with: {seconds: 0, value: 2}}
  - {id: three, uses: fail, with: {message: "three broke"}}
on_failure:
  - {id: alert, uses: wait, with: {seconds: 0, value: alert}}
"""


def test_restart_from_a_step_reuses_what_came_before(page, server, alice, shot):
    workflow = save_workflow(alice, RESTARTABLE)
    login_as(page, server, alice)
    first = run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "failed", timeout=10000)
    page.locator(".card[data-id=two]").click()
    restart = page.get_by_role("button", name="↻ Restart from this step")
    expect(restart).to_be_visible()  # the server can restart (POST /api/runs/{id}/restart is in its schema)
    keep(shot("restart"))
    restart.click()
    new_run_id(page, first)
    expect(page.locator("[data-testid=resume-report]")).to_contain_text("restarted from two: reused one")
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "failed", timeout=10000)
    expect(page.locator(".card[data-id=one] [data-testid=card-status]")).to_have_text(f"✓ reused from #{first}")
    expect(page.locator(".card[data-id=two] [data-testid=card-status]")).to_contain_text("✓ succeeded")

    # a hook is no starting point: the pane says why, and nothing else happens
    page.locator(".tl-row[data-path=alert] .tl-label").click()
    expect(page.locator("[data-testid=detail-title]")).to_have_text("alert")
    page.get_by_role("button", name="↻ Restart from this step").click()
    error = page.locator("[data-testid=restart-error]")
    expect(error).to_contain_text("Cannot restart from alert:")
    expect(page.get_by_role("button", name="↻ Restart from this step")).to_be_enabled()


def test_the_runs_page_links_to_each_runs_monitor(page, server, alice):
    workflow = save_workflow(alice, FIXED)
    login_as(page, server, alice)
    run_id = run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=10000)
    page.goto(f"{server.url}/runs/")
    page.get_by_role("link", name=f"#{run_id}", exact=True).click()
    page.wait_for_url(f"{server.url}/runs/{run_id}/")
    expect(page.locator("[data-testid=monitor]")).to_be_visible()
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded")
