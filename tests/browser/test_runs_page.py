"""The /runs/ page in a real Chromium: runs of two workflows, filters kept in the URL, paging,
another user's runs never shown; and the monitor's header says where its run came from."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from builder.models import Origin, Run
from builder.services import create_run, save_workflow
from tests.conftest import SIMPLE

from .conftest import login_as
from .test_accessibility import serious_violations

pytestmark = pytest.mark.django_db(transaction=True)

NIGHTLY = {"trigger": "nightly", "slot": "2026-11-24T02:00:00+00:00"}


def make(workflow, user, status, origin=Origin.MANUAL, detail=None, minutes_ago=0, duration_ms=1200.0) -> Run:
    """A run as it is stored once it ended (never executed: the page only reads it)."""
    run = create_run(workflow, user, {}, origin=origin, origin_detail=detail)
    made = timezone.now() - timedelta(minutes=minutes_ago)
    Run.objects.filter(pk=run.pk).update(status=status, created_at=made, started_at=made,
                                         duration_ms=None if status == "running" else duration_ms)
    return run


@pytest.fixture
def runs(alice, bob):
    """14 runs of alice's two workflows (the newest first), and one of bob's."""
    report = save_workflow(alice, SIMPLE.replace("name: simple", "name: report"))
    backup = save_workflow(alice, SIMPLE.replace("name: simple", "name: backup"))
    kinds = [("succeeded", Origin.SCHEDULE, NIGHTLY), ("failed", Origin.WEBHOOK, {"trigger": "from_ci"}),
             ("succeeded", Origin.API, {"token": "ci-bot"}), ("succeeded", Origin.MANUAL, None),
             ("failed", Origin.CLI, None), ("running", Origin.SCHEDULE, NIGHTLY), ("cancelled", Origin.MANUAL, None)]
    made = []
    for i in range(14):
        status, origin, detail = kinds[i % len(kinds)]
        made.append(make(report if i % 2 else backup, alice, status, origin, detail, minutes_ago=100 - i))
    rerun = make(report, alice, "succeeded", Origin.RERUN, {"run": made[1].pk}, minutes_ago=1)
    theirs = make(save_workflow(bob, SIMPLE.replace("name: simple", "name: secret-plan")), bob, "failed")
    return {"alice": [rerun, *reversed(made)], "bob": theirs}


def rows(page):
    return page.locator("[data-testid=runs-body] tr[data-run]")


def test_the_runs_page_lists_filters_and_pages(page, server, alice, runs, shot):
    login_as(page, server, alice)
    page.goto(f"{server.url}/")
    expect(page.locator("tr[data-workflow] [data-testid=last-origin]").first).to_be_visible()
    page.set_viewport_size({"width": 1024, "height": 800})
    shot("list-1024")
    page.set_viewport_size({"width": 1400, "height": 900})
    page.click("[data-testid=nav-runs]")
    page.wait_for_url(f"{server.url}/runs/")
    expect(rows(page)).to_have_count(15)
    expect(page.locator("[data-testid=page-count]")).to_have_text("1–15 of 15")
    ids = [int(r) for r in rows(page).evaluate_all("rs => rs.map(r => r.dataset.run)")]
    assert ids == [r.pk for r in runs["alice"]]  # newest first, bob's never
    expect(page.locator("[data-testid=runs-table]")).not_to_contain_text("secret-plan")
    expect(page.locator("[data-testid=runs-table]")).to_contain_text("report")
    expect(page.locator("[data-testid=runs-table]")).to_contain_text("backup")
    first = rows(page).first
    expect(first.locator("[data-testid=run-origin]")).to_have_text(f"re-run of #{runs['alice'][-2].pk}")
    expect(first.locator(".status")).to_have_text("✓ succeeded")
    expect(page.locator("tr[data-status=running] [data-testid=run-origin]").first).to_have_text(
        "schedule nightly at 2026-11-24 02:00 UTC")
    shot("all-1400")
    assert serious_violations(page) == []
    page.set_viewport_size({"width": 1024, "height": 800})
    shot("all-1024")
    page.set_viewport_size({"width": 1400, "height": 900})

    page.select_option("[data-testid=filter-status]", "failed")
    page.wait_for_url(re.compile(r"status=failed"))
    expect(rows(page)).to_have_count(4)
    assert set(rows(page).evaluate_all("rs => rs.map(r => r.dataset.status)")) == {"failed"}
    page.select_option("[data-testid=filter-origin]", "webhook")
    page.wait_for_url(re.compile(r"status=failed&.*origin=webhook"))
    expect(rows(page)).to_have_count(2)
    expect(rows(page).locator("[data-testid=run-origin]")).to_have_text(["webhook from_ci"] * 2)
    shot("filtered")

    page.goto(page.url)  # a bookmark of the filtered view opens it as it was
    expect(page.locator("[data-testid=filter-origin]")).to_have_value("webhook")
    expect(rows(page)).to_have_count(2)
    page.go_back()  # the view before the origin filter
    expect(page.locator("[data-testid=filter-origin]")).to_have_value("")
    expect(rows(page)).to_have_count(4)


def test_paging_through_the_runs(page, server, alice, runs, shot):
    login_as(page, server, alice)
    page.goto(f"{server.url}/runs/?limit=6")
    expect(page.locator("[data-testid=page-count]")).to_have_text("1–6 of 15")
    expect(page.locator("[data-testid=page-prev]")).to_be_disabled()
    page.click("[data-testid=page-next]")
    page.wait_for_url(re.compile(r"limit=6&offset=6"))
    expect(page.locator("[data-testid=page-count]")).to_have_text("7–12 of 15")
    page.click("[data-testid=page-next]")
    expect(page.locator("[data-testid=page-count]")).to_have_text("13–15 of 15")
    expect(page.locator("[data-testid=page-next]")).to_be_disabled()
    assert [int(r) for r in rows(page).evaluate_all("rs => rs.map(r => r.dataset.run)")] == [
        r.pk for r in runs["alice"][12:]]
    shot("last-page")
    page.click("[data-testid=page-prev]")
    expect(page.locator("[data-testid=page-count]")).to_have_text("7–12 of 15")
    page.select_option("[data-testid=filter-workflow]", label="backup")  # a filter starts at page 1
    expect(page.locator("[data-testid=page-count]")).to_have_text("1–6 of 7")
    assert "offset" not in page.url and "limit=6" in page.url


def test_a_date_range_in_the_browsers_days(page, server, alice, runs):
    login_as(page, server, alice)
    page.goto(f"{server.url}/runs/")
    expect(rows(page)).to_have_count(15)
    tomorrow = page.evaluate("() => { const d = new Date(); d.setDate(d.getDate() + 1); "
                             "return d.toLocaleDateString('sv'); }")  # YYYY-MM-DD, the browser's day
    page.fill("[data-testid=filter-until]", tomorrow)
    page.click("[data-testid=run-filters] button[type=submit]")
    page.wait_for_url(re.compile(f"until={tomorrow}"))
    expect(page.locator("[data-testid=page-count]")).to_have_text("1–15 of 15")
    page.fill("[data-testid=filter-until]", "")
    page.fill("[data-testid=filter-since]", tomorrow)
    page.click("[data-testid=run-filters] button[type=submit]")
    page.wait_for_url(re.compile(f"since={tomorrow}$"))
    expect(page.locator("[data-testid=runs-body]")).to_have_text("No runs match these filters.")
    expect(page.locator("[data-testid=page-next]")).to_be_disabled()


def test_hostile_filters_say_what_is_wrong(page, server, alice, runs):
    login_as(page, server, alice)
    page.goto(f"{server.url}/runs/?status=exploded&since=yesterday")
    expect(page.locator("[data-testid=runs-error]")).to_contain_text("These filters cannot be used")
    expect(page.locator("[data-testid=runs-error]")).to_contain_text("since")
    expect(rows(page)).to_have_count(0)


def test_the_monitor_says_where_its_run_came_from(page, server, alice, runs, shot):
    login_as(page, server, alice)
    scheduled = runs["alice"][-1]  # the oldest: a schedule's
    page.goto(f"{server.url}/runs/{scheduled.pk}/")
    expect(page.locator(".wf-title")).to_have_text(
        f"v1 · run #{scheduled.pk} · schedule nightly at 2026-11-24 02:00 UTC")
    shot("scheduled")
    rerun = runs["alice"][0]
    page.goto(f"{server.url}/runs/{rerun.pk}/")
    expect(page.locator("[data-testid=run-origin]")).to_have_text(f" · re-run of #{runs['alice'][-2].pk}")
