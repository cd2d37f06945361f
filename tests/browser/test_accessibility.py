"""axe-core (vendored, pinned) on the pages: no serious or critical violations."""

import re

import pytest
from playwright.sync_api import expect

from .conftest import ROOT, login_as
from .test_monitor import PARALLEL, run_from_editor

from builder.services import save_workflow

pytestmark = pytest.mark.django_db(transaction=True)
AXE = ROOT / "static" / "vendor" / "axe.min.js"


def serious_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_the_pages_have_no_serious_accessibility_violations(page, server, alice, shot):
    workflow = save_workflow(alice, PARALLEL)
    login_as(page, server, alice)
    page.goto(f"{server.url}/")
    assert serious_violations(page) == []

    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    page.locator(".card[data-id=left]").click()  # the properties form too
    expect(page.locator("[data-testid=with-form]")).to_be_visible()
    assert serious_violations(page) == []

    run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=15000)
    page.locator(".card[data-id=right]").click()
    expect(page.locator("[data-testid=detail-title]")).to_have_text("both.right")
    assert serious_violations(page) == []
    shot()


def test_keyboard_reaches_the_canvas_and_shows_focus(page, server, alice):
    workflow = save_workflow(alice, PARALLEL)
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    seen = set()
    for _ in range(80):
        page.keyboard.press("Tab")
        seen.add(page.evaluate("document.activeElement.dataset.id || document.activeElement.dataset.name || ''"))
        if "right" in seen:
            break
    assert {"both", "left", "right"} <= seen
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    page.keyboard.press("Enter")
    expect(page.locator("#properties, [data-testid=properties]").get_by_label("id", exact=True)).to_have_value("right")
    assert re.search("right", page.locator(".card.selected").get_attribute("data-id"))
