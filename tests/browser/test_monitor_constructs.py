"""The monitor draws a finished run of a workflow with a switch, a repeat, hooks and a
rollback: every step has its card (none "invalid") at the engine's path, and the statuses of
the steps that ran (the chosen case, the hooks, the compensation) are painted on them; a
compensation that ran is unfolded."""

import re

import pytest
from playwright.sync_api import expect

from builder.services import save_workflow

from .conftest import login_as
from .constructs_data import FAILING
from .test_accessibility import serious_violations
from .test_monitor import start_run_in_page

pytestmark = pytest.mark.django_db(transaction=True)

CARDS = {"route": "route", "pick_a": "route.pick_a", "pick_b": "route.pick_b", "pick_other": "route.pick_other",
         "poll": "poll", "check": "poll.check", "bookings": "bookings", "flight": "bookings.flight",
         "cancel_flight": "bookings.flight.compensate.cancel_flight",
         "nap": "bookings.hotel.nap", "full": "bookings.hotel.full", "tidy": "bookings.tidy",
         "alert": "alert", "cleanup": "cleanup"}


def test_the_monitor_draws_a_finished_run_of_every_construct(page, server, alice, shot):
    workflow = save_workflow(alice, FAILING)
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    run = start_run_in_page(page, workflow)
    page.goto(f"{server.url}/runs/{run['id']}/")
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "failed", timeout=20000)

    expect(page.locator("[data-testid=flow] .card[data-kind=invalid]")).to_have_count(0)
    drawn = page.evaluate("""Object.fromEntries([...document.querySelectorAll('[data-testid=flow] .card')]
        .map(c => [c.dataset.id, c.dataset.path]))""")
    assert drawn == CARDS
    expect(page.locator("[data-testid=flow] .lane[data-branch=hotel]")).to_have_attribute("data-path", "bookings.hotel")
    status = lambda step_id: page.locator(f"[data-testid=flow] .card[data-id={step_id}]")  # noqa: E731
    expect(status("flight")).to_have_attribute("data-status", "compensated")
    for step_id in ("pick_a", "tidy", "alert", "cleanup", "cancel_flight"):
        expect(status(step_id)).to_have_attribute("data-status", "succeeded")
    expect(status("pick_b")).to_have_attribute("data-status", "skipped")
    expect(status("full")).to_have_attribute("data-status", "failed")
    expect(status("bookings")).to_have_attribute("data-status", "failed")

    # the compensation that ran is under its step, unfolded as it ran; its toggle folds it
    toggle = status("flight").locator("[data-testid=fold-compensate]")
    expect(status("cancel_flight")).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    toggle.click()
    expect(status("cancel_flight")).to_be_hidden()
    toggle.click()
    expect(status("cancel_flight")).to_be_visible()
    expect(status("cancel_flight").locator(":scope > .card-head .card-status")).to_contain_text("succeeded")
    labels = [t.strip() for t in status("route").locator(":scope > .switch-lanes > .lane > .lane-head").all_text_contents()]
    assert labels == ["= a", "= b", "default"]
    expect(page.locator("[data-testid=flow] .workflow-hooks [data-testid=lane-on_failure] .card[data-id=alert]")).to_be_visible()
    assert [v for v in serious_violations(page) if "'.cm-scroller'" not in v] == []
    for width in (1024, 1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        shot(f"{width}")
    assert re.search(r"failed", page.locator("[data-testid=run-status]").inner_text())
