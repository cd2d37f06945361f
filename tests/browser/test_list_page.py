"""The workflow list as a new user meets it (issue 14's "List and names" defects): the tab's
title, one name rule in the form and on the server, a refused "new" that does not stay on the
POST, "just now", the icon, a live sparkline with the run's origin; and /api/docs offline."""

import pytest
from playwright.sync_api import expect

from builder.models import Workflow
from builder.services import save_workflow
from tests.conftest import SIMPLE

from .conftest import login_as
from .test_accessibility import serious_violations

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = """version: 1
name: slowish
steps:
  - {id: a, uses: wait, with: {seconds: 0.6, value: 1}}
"""


def start_run(page, workflow) -> dict:
    """Start a run through the API from the open page (its session and CSRF cookie)."""
    return page.evaluate(f"""() => fetch('/api/workflows/{workflow.pk}/runs', {{method: 'POST',
        headers: {{'Content-Type': 'application/json',
                  'X-CSRFToken': document.cookie.match(/csrftoken=([^;]+)/)[1]}},
        body: '{{}}'}}).then(r => r.json())""")


def test_title_name_rule_refusal_and_just_now(page, server, alice, shot):
    save_workflow(alice, SIMPLE)
    login_as(page, server, alice)
    icons = []
    page.on("response", lambda r: icons.append(r.status) if "favicon" in r.url else None)
    page.goto(f"{server.url}/")
    assert page.title() == "Workflows"
    expect(page.locator("[data-testid=updated]").first).to_have_text("just now")
    # the form's rule is the server's: "My.Flow" is refused before it is sent, with the rule said
    page.fill("#new-name", "My.Flow")
    page.get_by_role("button", name="New").click()
    assert page.url == f"{server.url}/"
    assert not page.evaluate("document.getElementById('new-name').checkValidity()")
    assert "lower-case letters" in page.get_attribute("#new-name", "title")
    # a name the form lets through but the server refuses (taken): back on the list by a GET
    page.fill("#new-name", "simple")
    page.get_by_role("button", name="New").click()
    expect(page.locator("[data-testid=problems]")).to_contain_text("you already have a workflow named 'simple'")
    assert page.url == f"{server.url}/"
    expect(page.locator("#new-name")).to_have_value("simple")
    page.reload()  # posts nothing again, says it once
    expect(page.locator("[data-testid=problems]")).to_have_count(0)
    assert Workflow.objects.filter(owner=alice).count() == 1
    assert icons and all(status in (200, 304) for status in icons), icons
    for width in (1024, 1280, 1920):
        page.set_viewport_size({"width": width, "height": 800})
        shot(f"list-{width}")
    assert serious_violations(page) == []


def test_the_sparkline_and_origin_follow_runs_live(page, server, alice, shot):
    workflow = save_workflow(alice, SLOW)
    login_as(page, server, alice)
    page.goto(f"{server.url}/")
    row = page.locator(f"tr[data-workflow='{workflow.pk}']")
    expect(page.locator("[data-testid=list-connection]")).to_have_text("Run statuses update live.")
    expect(row.locator("[data-testid=sparkline] a")).to_have_count(0)
    first = start_run(page, workflow)
    spark = row.locator(f"[data-testid=sparkline] a[data-run='{first['id']}']")
    expect(spark).to_have_attribute("data-status", "running", timeout=10000)
    expect(row.locator("[data-testid=last-origin]")).to_have_text("manual")
    expect(spark).to_have_attribute("data-status", "succeeded", timeout=15000)
    second = start_run(page, workflow)
    expect(row.locator("[data-testid=sparkline] a")).to_have_count(2, timeout=10000)
    expect(row.locator("[data-testid=sparkline] a").last).to_have_attribute("data-run", str(second["id"]))
    expect(row.locator("[data-testid=sparkline] a").last).to_have_attribute("data-status", "succeeded",
                                                                              timeout=15000)
    page.reload()  # the server draws the same marks
    expect(row.locator("[data-testid=sparkline] a")).to_have_count(2)
    shot("live")


def test_api_docs_work_offline(page, server, alice, shot):
    # page_errors fails the test on any request that leaves the machine (a CDN's Swagger UI)
    login_as(page, server, alice)
    page.goto(f"{server.url}/api/docs")
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=15000)
    expect(page.locator(".swagger-ui")).to_contain_text("Workflow builder API")
    shot("api-docs")


def test_staff_see_whose_runs_on_the_runs_page(page, server, alice, bob, staff):
    from builder.services import create_run

    create_run(save_workflow(alice, SIMPLE), alice, {})
    create_run(save_workflow(bob, SIMPLE.replace("name: simple", "name: bobs")), bob, {})
    login_as(page, server, staff)
    page.goto(f"{server.url}/runs/")
    owners = page.locator("[data-testid=runs-body] td.owner")
    expect(owners).to_have_count(2)
    assert sorted(owners.all_inner_texts()) == ["alice", "bob"]
    assert "Owner" in page.locator("[data-testid=runs-table] thead").inner_text()
    login_as(page, server, alice)  # a user sees only their own runs: no owner column
    page.goto(f"{server.url}/runs/")
    expect(page.locator("[data-testid=runs-body] tr[data-run]")).to_have_count(1)
    expect(page.locator("[data-testid=runs-body] td.owner")).to_have_count(0)
    assert "Owner" not in page.locator("[data-testid=runs-table] thead").inner_text()
