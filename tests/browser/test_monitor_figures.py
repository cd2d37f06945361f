"""The monitor's figures in a real Chromium: steps done of all there will be (items not started
yet counted), a failed branch's progress line red, an interrupted run's time without its
downtime, a foreach's speed-up named for its items (live and at the end) with each block's
figures, and the critical path with what held the run back (and nothing when it is absent)."""

import re

import pytest
from playwright.sync_api import expect

from builder.services import save_workflow

from .conftest import login_as
from .monitor_kit import axe_clean, keep, open_monitor, recorded_run, shots
from .test_monitor import run_from_editor, start_run_in_page

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_ITEMS = """version: 1
name: slow-items
steps:
  - {id: src, uses: wait, with: {seconds: 0, value: %s}}
  - id: each
    foreach: ${src}
    concurrency: 4
    steps:
      - {id: work, uses: wait, with: {seconds: 0.15}}
"""


def test_the_progress_counts_the_items_not_started_yet(page, server, alice):
    workflow = save_workflow(alice, SLOW_ITEMS % list(range(40)))
    login_as(page, server, alice)
    page.goto(f"{server.url}/")
    run = start_run_in_page(page, workflow)
    open_monitor(page, server, run["id"])
    figures = page.locator("[data-testid=figures]")
    # early on, with a few items done and most not started, the count is of all 41 (src + 40 items)
    page.wait_for_function("""() => {
        const m = document.querySelector('[data-testid=figures]').textContent.match(/(\\d+) of (at least )?(\\d+) steps done/);
        return m && +m[1] >= 3;
    }""", timeout=10000)
    early = figures.inner_text()
    found = re.search(r"(\d+) of (\d+) steps done", early)
    assert found and int(found.group(2)) == 41 and int(found.group(1)) < 30, early
    # the speed-up the items bring is named for them while the run goes on, never "side by side"
    expect(figures).to_contain_text("× from foreach items", timeout=10000)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=15000)
    text = figures.inner_text()
    assert re.search(r"ran in [\d.]+ s · [\d.]+ s of work · ([\d.]+)× from foreach items", text), text
    assert float(re.search(r"([\d.]+)×", text).group(1)) > 1.5
    page.locator("[data-testid=more-figures] summary").click()
    expect(page.locator("[data-testid=block-figures]")).to_have_text(
        re.compile(r"each \(foreach\): [\d.]+ s for [\d.]+ s of work, saved [\d.]+ s across items"))


BRANCHES = """version: 1
name: one-fails
steps:
  - id: both
    parallel:
      - {id: good, uses: wait, with: {seconds: 0, value: 1}}
      - id: bad_lane
        steps:
          - {id: bad, uses: fail, with: {message: broken}}
"""


def test_a_failed_branch_shows_red_not_green(page, server, alice, shot):
    workflow = save_workflow(alice, BRANCHES)
    login_as(page, server, alice)
    run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "failed", timeout=10000)
    bad = page.locator(".lane[data-branch=bad_lane] .lane-progress")
    expect(bad).to_have_attribute("data-failed", "true")
    background = bad.evaluate("e => getComputedStyle(e).backgroundImage")
    assert "rgb(207, 34, 46)" in background, background  # --failed
    assert bad.get_attribute("title") == "1 of 1 steps done, 1 failed"
    keep(shot("failed-branch"))


def test_an_interrupted_run_says_how_long_it_ran_without_the_downtime(page, server, alice):
    import datetime as dt

    from django.utils import timezone

    workflow = save_workflow(alice, SLOW_ITEMS % [1, 2])
    started = timezone.now() - dt.timedelta(hours=2)
    run = recorded_run(workflow, alice, status="interrupted", started=started, finished=timezone.now(),
                       steps=[("src", "action", "succeeded", 0, 0.2), ("each", "foreach", "running", 0.2, None),
                              ("each[0].work", "action", "succeeded", 0.2, 1.4)])
    login_as(page, server, alice)
    open_monitor(page, server, run.pk)
    figures = page.locator("[data-testid=figures]")
    expect(figures).to_contain_text("ran 1.4 s before it was interrupted")
    assert " h " not in figures.inner_text() and "min" not in figures.inner_text()


def critical_run(workflow, alice, summary):
    steps = [("src", "action", "succeeded", 0, 0.3), ("each", "foreach", "succeeded", 0.3, 2.4),
             ("each[0].work", "action", "succeeded", 0.3, 1.3), ("each[1].work", "action", "succeeded", 1.3, 2.4)]
    return recorded_run(workflow, alice, status="succeeded", steps=steps, duration_ms=2400,
                        summary={"wall_ms": 2400, "work_ms": 2400, "action_steps": 3, **summary})


def test_the_critical_path_is_marked_and_what_held_the_run_back_is_said(page, server, alice, shot):
    workflow = save_workflow(alice, SLOW_ITEMS % [1, 2])
    held = {"block": "each", "cause": "a concurrency slot", "waited_ms": 2100, "limit": 4, "saving_ms": 1000,
            "text": "each: 2.1 s waiting for a slot of 4 — 8 would have saved ~1.0 s"}
    run = critical_run(workflow, alice, {"critical_path": ["src", "each", "each.work"], "held_back": [held]})
    login_as(page, server, alice)
    open_monitor(page, server, run.pk)
    for step_id in ("src", "each", "work"):
        expect(page.locator(f".card[data-id={step_id}]")).to_have_class(re.compile(r"\bcritical\b"))
    for path in ("src", "each", "each.work"):
        expect(page.locator(f".tl-row[data-path='{path}']")).to_have_class(re.compile(r"\bcritical\b"))
    outline = page.locator(".card[data-id=src]").evaluate("e => getComputedStyle(e).outlineWidth")
    assert outline == "3px"
    expect(page.locator("[data-testid=figures]")).to_contain_text("held back: 2.1 s waiting in each")
    page.locator("[data-testid=more-figures] summary").click()
    line = page.locator("[data-testid=held-back]")
    expect(line).to_contain_text("each: 2.1 s waiting for a slot of 4 — 8 would have saved ~1.0 s")
    expect(line).to_contain_text("waited 2.1 s · cause: a concurrency slot · limit 4 · saving ~1.0 s")
    axe_clean(page)
    shots(page, shot, "critical")


def test_without_a_critical_path_nothing_is_marked(page, server, alice):
    workflow = save_workflow(alice, SLOW_ITEMS % [1, 2])
    run = critical_run(workflow, alice, {"critical_path": "not a list", "held_back": None})
    login_as(page, server, alice)
    open_monitor(page, server, run.pk)
    expect(page.locator("[data-testid=figures]")).to_contain_text("ran in 2.4 s")
    assert page.locator(".critical").count() == 0
    expect(page.locator("[data-testid=held-back]")).to_have_count(0)


SWITCHED = """version: 1
name: switched
steps:
  - {id: classify, uses: wait, with: {seconds: 0, value: invoice}}
  - id: route
    switch: ${classify}
    cases:
      invoice:
        - {id: book, uses: wait, with: {seconds: 0, value: booked}}
      receipt:
        - {id: file_it, uses: wait, with: {seconds: 0, value: filed}}
    default:
      - {id: ask, uses: wait, with: {seconds: 0, value: asked}}
  - {id: last, uses: wait, with: {seconds: 0, value: done}}
on_failure:
  - {id: alert, uses: wait, with: {seconds: 0, value: alert}}
"""


def test_cases_not_chosen_and_hooks_not_run_are_not_counted_as_steps_to_do(page, server, alice):
    import datetime as dt

    from django.utils import timezone

    from builder.models import Run

    workflow = save_workflow(alice, SWITCHED)
    run = recorded_run(workflow, alice, status="running", started=timezone.now() - dt.timedelta(seconds=1),
                       steps=[("classify", "action", "succeeded", 0, 0.1), ("route", "switch", "running", 0.1, None),
                              ("route.book", "action", "running", 0.1, None)])
    Run.objects.filter(pk=run.pk).update(finished_at=None)  # going on (nobody runs it: the page only reads it)
    login_as(page, server, alice)
    open_monitor(page, server, run.pk)
    # classify, route.book (its case was chosen) and last; not file_it, ask or alert
    expect(page.locator("[data-testid=figures]")).to_contain_text("1 of 3 steps done")
