"""Sub-workflows, hooks and compensation on the monitor in a real Chromium: a `workflow` step's
own steps opened in place (statuses, timeline rows, their detail) and as their own view, and
the steps of `on_failure`, `finally` and `compensate` drawn with their statuses where they ran."""

import re

import pytest
from playwright.sync_api import expect

from builder.services import save_workflow

from .conftest import login_as
from .monitor_kit import axe_clean, keep, shots
from .test_monitor import run_from_editor

pytestmark = pytest.mark.django_db(transaction=True)

CHILD = """version: 1
name: child
steps:
  - {id: fetch, uses: wait, with: {seconds: 0.05, value: 1}}
  - {id: shape, uses: wait, with: {seconds: 0, value: "${fetch}"}}
"""
PARENT = """version: 1
name: parent
steps:
  - {id: before, uses: wait, with: {seconds: 0, value: 0}}
  - {id: report, uses: workflow, with: {name: child}}
"""


def test_a_sub_workflows_steps_open_in_place_and_as_their_own_view(page, server, alice, shot):
    save_workflow(alice, CHILD)
    workflow = save_workflow(alice, PARENT)
    login_as(page, server, alice)
    run_id = run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=10000)
    # the child's steps ran in this run: their timeline rows are there even before they are opened
    expect(page.locator(".tl-row[data-path='report.fetch'] .tl-bar")).to_have_attribute("data-status", "succeeded")
    card = page.locator(".card[data-id=report]")
    card.get_by_role("button", name="▸ show the steps of report").click()
    sub = card.locator("[data-testid=subflow]")
    expect(sub).to_contain_text("child v1 (sub-workflow)")
    for step_id in ("fetch", "shape"):
        expect(sub.locator(f".card[data-id={step_id}]")).to_have_attribute("data-status", "succeeded")
        expect(sub.locator(f".card[data-id={step_id}]")).to_have_attribute("data-path", f"report.{step_id}")
    sub.locator(".card[data-id=shape]").click()
    expect(page.locator("[data-testid=detail-title]")).to_have_text("report.shape")
    expect(page.locator("[data-testid=detail]")).to_contain_text('"value": 1')  # its inputs as resolved
    expect(page.locator("[data-testid=restart]")).to_have_count(0)  # it runs with its step: no starting point
    rows = page.locator(".tl-row").evaluate_all("rows => rows.map(r => r.dataset.path)")
    assert rows.index("report.fetch") == rows.index("report") + 1, rows  # under its step
    axe_clean(page)
    shots(page, shot, "subflow-in-place")

    card.get_by_test_id("subflow-open").click()
    page.wait_for_url(re.compile(rf"/runs/{run_id}/#sub=report"))
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    expect(page.locator("[data-testid=subflow-crumb]")).to_contain_text("report: child v1 (sub-workflow)")
    flow = page.locator("[data-testid=flow]")
    expect(flow.locator(".card[data-id=fetch]")).to_have_attribute("data-status", "succeeded")
    expect(flow.locator(".card[data-id=before]")).to_have_count(0)
    expect(page.locator(".tl-row")).to_have_count(2)  # its steps' rows only
    flow.locator(".card[data-id=fetch]").click()
    expect(page.locator("[data-testid=detail-title]")).to_have_text("report.fetch")
    assert "sub=report" in page.url and "step=report.fetch" in page.url
    keep(shot("subflow-own-view"))
    page.get_by_role("link", name=f"← the whole run #{run_id}").click()
    expect(page.locator(".card[data-id=before]")).to_be_visible()


HOOKS = """version: 1
name: hooks-and-undo
on_error: rollback
steps:
  - id: book
    uses: wait
    with: {seconds: 0, value: {id: F1}}
    compensate:
      - {id: cancel_it, uses: wait, with: {seconds: 0, value: "cancelled ${book.id}"}}
  - id: load
    parallel:
      - {id: north, uses: wait, with: {seconds: 0, value: 3}}
    finally:
      - {id: close_files, uses: wait, with: {seconds: 0, value: closed}}
  - {id: boom, uses: fail, with: {message: broken}}
on_failure:
  - {id: alert, uses: wait, with: {seconds: 0, value: "alert"}}
finally:
  - {id: cleanup, uses: wait, with: {seconds: 0, value: "run ${run.status}"}}
"""


def test_hooks_and_compensation_are_drawn_where_they_ran(page, server, alice, shot):
    workflow = save_workflow(alice, HOOKS)
    login_as(page, server, alice)
    run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "failed", timeout=10000)
    expected = {"book": "compensated", "book.compensate.cancel_it": "succeeded", "load.close_files": "succeeded",
                "alert": "succeeded", "cleanup": "succeeded", "boom": "failed"}
    for path, status in expected.items():
        # in the timeline, a row under its step or block, with its status ...
        expect(page.locator(f".tl-row[data-path='{path}'] .tl-bar")).to_have_attribute("data-status", status)
        # ... and on the flow, the card at that path (where the flow draws one) in its status
        card = page.locator(f"[data-testid=flow] .card[data-path='{path}']")
        if card.count():
            expect(card).to_have_attribute("data-status", status)
    rows = page.locator(".tl-row").evaluate_all("rows => rows.map(r => r.dataset.path)")
    assert rows.index("book.compensate.cancel_it") > rows.index("book")
    assert rows.index("load.close_files") > rows.index("load")
    page.locator(".tl-row[data-path='book.compensate.cancel_it'] .tl-label").click()
    expect(page.locator("[data-testid=detail]")).to_contain_text('"cancelled F1"')
    keep(shot("hooks"))


SLOW_CHILD = """version: 1
name: slow-child
steps:
  - {id: slow, uses: wait, with: {seconds: 1.5, value: 1}}
"""


def test_a_sub_workflow_opened_while_it_runs_follows_it_live(page, server, alice):
    save_workflow(alice, SLOW_CHILD)
    workflow = save_workflow(alice, PARENT.replace("name: child", "name: slow-child"))
    login_as(page, server, alice)
    run_from_editor(page, server, workflow)
    card = page.locator(".card[data-id=report]")
    expect(card).to_have_attribute("data-status", "running", timeout=10000)
    card.get_by_role("button", name="▸ show the steps of report").click()
    child = card.locator("[data-testid=subflow] .card[data-id=slow]")
    expect(child).to_have_attribute("data-status", "running")
    expect(child).to_have_attribute("data-status", "succeeded", timeout=10000)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded")
