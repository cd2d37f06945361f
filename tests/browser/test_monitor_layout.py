"""The monitor's layout in a real Chromium: the detail pane never draws over the timeline (a
long "Recent runs" at 1280×720 with nothing selected, a foreach's items table at 1400×900 with
a step selected), the timeline's colours and bands explained on the page, and axe-core clean."""

import pytest
from playwright.sync_api import expect

from builder.services import save_workflow

from .conftest import login_as
from .monitor_kit import axe_clean, keep, open_monitor, overlaps, recorded_run, shots

pytestmark = pytest.mark.django_db(transaction=True)

ITEMS = """version: 1
name: many-items
steps:
  - {id: src, uses: wait, with: {seconds: 0, value: [1, 2, 3]}}
  - id: each
    foreach: ${src}
    steps:
      - {id: work, uses: wait, with: {seconds: 0}}
"""


def items_run(workflow, user, n=60):
    steps = [("src", "action", "succeeded", 0, 0.1), ("each", "foreach", "succeeded", 0.1, 3.1)]
    steps += [(f"each[{i}].work", "action", "succeeded", 0.1 + i * 0.05, 0.15 + i * 0.05) for i in range(n)]
    progress = {"type": "foreach.progress", "path": "each", "done": n, "failed": 0, "running": 0, "total": n,
                "ts": 0, "run_id": "0"}
    return recorded_run(workflow, user, status="succeeded", steps=steps, events=[progress], duration_ms=3100,
                        summary={"wall_ms": 3100, "work_ms": 3000},
                        outputs={"each": list(range(n))})


def test_the_detail_pane_stays_above_the_timeline_with_nothing_selected(page, server, alice, shot):
    workflow = save_workflow(alice, ITEMS)
    runs = [items_run(workflow, alice, n=3) for _ in range(10)]  # ten lines of "Recent runs"
    login_as(page, server, alice)
    page.set_viewport_size({"width": 1280, "height": 720})
    open_monitor(page, server, runs[-1].pk)
    expect(page.locator("[data-testid=run-history] li")).to_have_count(10)
    expect(page.locator("[data-testid=run-outputs]")).to_be_visible()
    assert overlaps(page, ".detail", "[data-testid=timeline]") <= 0.5
    assert overlaps(page, "[data-testid=flow]", "[data-testid=timeline]") <= 0.5
    timeline = page.locator("[data-testid=timeline]").bounding_box()
    assert timeline["y"] + 40 < 720, "the timeline starts inside the window"
    shots(page, shot, "nothing-selected", height=720)


def test_the_items_table_stays_above_the_timeline_with_a_step_selected(page, server, alice, shot):
    workflow = save_workflow(alice, ITEMS)
    run = items_run(workflow, alice)
    login_as(page, server, alice)
    page.set_viewport_size({"width": 1400, "height": 900})
    open_monitor(page, server, run.pk, "#step=each")
    expect(page.locator("[data-testid=item-row]")).to_have_count(50)
    assert overlaps(page, ".detail", "[data-testid=timeline]") <= 0.5
    # the pane scrolls inside itself: its last row can be scrolled to and is then above the timeline
    last = page.locator("[data-testid=item-row]").last
    last.scroll_into_view_if_needed()
    assert last.bounding_box()["y"] + last.bounding_box()["height"] <= \
        page.locator("[data-testid=timeline]").bounding_box()["y"] + 0.5
    axe_clean(page)
    shots(page, shot, "step-selected", height=900)


def test_the_timeline_explains_its_colours_and_bands_on_the_page(page, server, alice, shot):
    workflow = save_workflow(alice, ITEMS)
    run = items_run(workflow, alice, n=20)
    login_as(page, server, alice)
    open_monitor(page, server, run.pk)
    legend = page.locator("[data-testid=timeline-legend]")
    expect(legend).to_be_visible()
    for words in ("✓ succeeded", "✕ failed", "↻ retrying", "darker where more item steps finished",
                  "one bar per attempt", "critical path", "reused"):
        expect(legend).to_contain_text(words)
    band = page.locator(".tl-bar.band[data-path='each.work']")
    expect(band).to_be_visible()
    assert band.bounding_box()["y"] < legend.bounding_box()["y"]
    keep(shot("legend"))
