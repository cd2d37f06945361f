"""The monitor's steps in a real Chromium: a `#step=` link to a finished run, every attempt of
a retried step (listed with its duration and error, a bar each in the timeline), a resumed
run's reused steps, a foreach's items by index, and its body's bar from the first item's start."""

import re

import pytest
from playwright.sync_api import expect

from builder.models import Run
from builder.services import save_workflow

from .conftest import login_as
from .monitor_kit import axe_clean, keep, open_monitor, recorded_run, shots
from .test_monitor import FLAKY, run_from_editor

pytestmark = pytest.mark.django_db(transaction=True)

RETRIED = """version: 1
name: retried
steps:
  - {id: first, uses: wait, with: {seconds: 0.05, value: 1}}
  - id: flaky
    uses: python
    retry: {attempts: 3, delay: 0.3s, backoff: 1}
    with: {function: "tests.browser.functions:fail_unless_exists", args: ["/nonexistent/the-service-said-no"]}
"""


@pytest.fixture
def python_allowed(settings):
    settings.WORKFLOW_PYTHON_ALLOWED = [*settings.WORKFLOW_PYTHON_ALLOWED, "tests.browser.functions.*"]


def test_a_step_link_to_a_finished_run_shows_the_step(page, server, alice):
    workflow = save_workflow(alice, RETRIED.split("  - id: flaky")[0] + "  - {id: flaky, uses: wait, with: {seconds: 0}}\n")
    run = recorded_run(workflow, alice, status="succeeded", steps=[
        ("first", "action", "succeeded", 0, 0.05), ("flaky", "action", "succeeded", 0.05, 0.1)])
    login_as(page, server, alice)
    open_monitor(page, server, run.pk, "#step=flaky")
    expect(page.locator("[data-testid=detail-title]")).to_have_text("flaky")
    expect(page.locator("[data-testid=detail-facts]")).to_have_text(re.compile(r"^✓ succeeded · 1 attempt · 50 ms"))
    expect(page.locator(".card[data-id=flaky]")).to_have_class(re.compile(r"\bselected\b"))


def test_every_attempt_of_a_retried_step_is_shown_and_drawn(page, server, alice, shot, python_allowed):
    workflow = save_workflow(alice, RETRIED)
    login_as(page, server, alice)
    run_id = run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "failed", timeout=10000)
    bars = page.locator(".tl-bar[data-path=flaky]:not([hidden])")
    expect(bars).to_have_count(3)
    boxes = [bars.nth(i).bounding_box() for i in range(3)]
    for before, after in zip(boxes, boxes[1:]):  # one after the other, the backoff between
        assert after["x"] > before["x"] + before["width"], (before, after)
    assert [bars.nth(i).get_attribute("data-attempt") for i in range(3)] == ["1", "2", "3"]
    page.locator(".card[data-id=flaky]").click()
    attempts = page.locator("[data-testid=attempt]")
    expect(attempts).to_have_count(3)
    for i in range(3):
        expect(attempts.nth(i)).to_contain_text(re.compile(rf"attempt {i + 1}: ✕ failed · [\d.]+ m?s"))
        expect(attempts.nth(i)).to_contain_text("the-service-said-no is not there yet")
    keep(shot("attempts"))

    # opened afresh, the snapshot's one row is completed from the API: the same three bars
    open_monitor(page, server, run_id)
    expect(page.locator(".tl-bar[data-path=flaky]:not([hidden])")).to_have_count(3)
    assert "attempt 2 of 3" in page.locator(".tl-bar[data-path=flaky][data-attempt='2']").get_attribute("title")


def test_a_resumed_runs_reused_steps_say_where_they_come_from(page, server, alice, tmp_path, shot, python_allowed):
    marker = tmp_path / "marker"
    workflow = save_workflow(alice, FLAKY)
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    page.get_by_role("button", name="▶ Run").click()
    page.get_by_label("marker").fill(str(marker))
    page.click("[data-testid=run-confirm]")
    page.wait_for_url(re.compile(r"/runs/\d+/"))
    first = int(re.search(r"/runs/(\d+)/", page.url).group(1))
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "failed", timeout=10000)
    marker.write_text("now")
    page.get_by_role("button", name="Resume", exact=True).click()
    page.wait_for_url(lambda url: f"/runs/{first}/" not in url)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=10000)
    status = page.locator(".card[data-id=prepare] [data-testid=card-status]")
    expect(status).to_have_text(f"✓ reused from #{first}")  # live, from its event
    page.locator(".card[data-id=prepare]").click()
    facts = page.locator("[data-testid=detail-facts]")
    expect(facts).to_contain_text(f"reused from #{first}")
    assert "0 attempts" not in facts.inner_text() and "0 ms" not in facts.inner_text()

    resumed = Run.objects.exclude(pk=first).get(workflow=workflow)
    open_monitor(page, server, resumed.pk, "#step=prepare")  # afresh: from the stored events
    expect(status).to_have_text(f"✓ reused from #{first}")
    expect(facts).to_contain_text(f"reused from #{first}")
    expect(page.locator(".card[data-id=check] [data-testid=card-status]")).to_contain_text("✓ succeeded")
    expect(page.locator(".tl-bar.reused[data-path=prepare]")).to_have_count(1)
    keep(shot("reused"))


ITEMS = """version: 1
name: by-index
steps:
  - id: each
    foreach: [0, 1, 2, 3, 4, 5]
    steps:
      - {id: work, uses: wait, with: {seconds: 0}}
"""


def test_the_items_table_is_ordered_by_item(page, server, alice):
    workflow = save_workflow(alice, ITEMS)
    order = [3, 0, 5, 1, 4, 2]  # stored as they ended, not by item
    steps = [("each", "foreach", "succeeded", 0, 1)] + [
        (f"each[{i}].work", "action", "failed" if i == 4 else "succeeded", 0.1 * n, 0.1 * n + 0.05, 1,
         "broke" if i == 4 else "") for n, i in enumerate(order)]
    progress = {"type": "foreach.progress", "path": "each", "done": 5, "failed": 1, "running": 0, "total": 6}
    run = recorded_run(workflow, alice, status="failed", steps=steps, events=[progress])
    login_as(page, server, alice)
    open_monitor(page, server, run.pk, "#step=each")
    rows = page.locator("[data-testid=item-row]")
    expect(rows).to_have_count(6)
    assert [rows.nth(i).get_attribute("data-item") for i in range(6)] == ["0", "1", "2", "3", "4", "5"]
    expect(rows.nth(4)).to_contain_text("✕ failed")
    expect(rows.nth(4)).to_contain_text("broke")
    expect(page.locator("[data-testid=items] caption")).to_have_text("Items of each: 1–6 of 6")


BODY = """version: 1
name: body-bars
steps:
  - id: each
    foreach: [1, 2, 3, 4]
    concurrency: 2
    steps:
      - {id: work, uses: wait, with: {seconds: 0.6}}
"""


def test_a_foreach_bodys_bar_starts_when_its_first_item_starts(page, server, alice, shot):
    workflow = save_workflow(alice, BODY)
    login_as(page, server, alice)
    run_id = run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=10000)

    def lefts():
        block = page.locator(".tl-bar[data-path=each]").bounding_box()
        body = page.locator(".tl-bar[data-path='each.work']").bounding_box()
        return block, body

    for opened in ("live", "afresh"):
        block, body = lefts()
        per_second = block["width"] / 1.2  # the loop took about two rounds of 0.6 s
        assert abs(body["x"] - block["x"]) < 0.1 * per_second, (opened, block, body)  # not 0.6 s later
        assert body["x"] + body["width"] == pytest.approx(block["x"] + block["width"], abs=0.1 * per_second)
        open_monitor(page, server, run_id)
    axe_clean(page)
    shots(page, shot, "body-bar")
