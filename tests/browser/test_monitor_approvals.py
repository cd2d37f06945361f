"""Approvals on the monitor in a real Chromium: the person asked approves or rejects with a
comment and the run goes on (or fails with the comment); someone who may see the run but is not
asked (staff) gets no form; a decision the server refuses says why."""

import re

import pytest
from playwright.sync_api import expect

from builder.models import Approval, Run
from builder.services import save_workflow

from .conftest import login_as
from .monitor_kit import axe_clean, open_monitor, shots
from .test_monitor import start_run_in_page

pytestmark = pytest.mark.django_db(transaction=True)

SIGN_OFF = """version: 1
name: sign-off
steps:
  - {id: draft, uses: wait, with: {seconds: 0, value: hello}}
  - id: sign_off
    uses: approval
    with: {message: "Publish ${draft}?", approvers: APPROVERS}
  - {id: publish, uses: wait, with: {seconds: 0, value: "${sign_off.comment}"}}
"""


def waiting_run(page, server, owner, approvers="[]"):
    workflow = save_workflow(owner, SIGN_OFF.replace("APPROVERS", approvers))
    login_as(page, server, owner)
    page.goto(f"{server.url}/")
    run_id = start_run_in_page(page, workflow)["id"]
    open_monitor(page, server, run_id)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "waiting", timeout=10000)
    return run_id


def test_the_owner_approves_with_a_comment_and_the_run_goes_on(page, server, alice, shot):
    run_id = waiting_run(page, server, alice)
    form = page.locator("[data-testid=approval]")
    expect(form).to_be_visible()
    expect(form).to_contain_text("sign_off waits for a decision")
    expect(form).to_contain_text("Publish hello?")
    form.get_by_label("Comment").fill("looks good")
    axe_clean(page)
    shots(page, shot, "approval")
    form.get_by_role("button", name="Approve").click()
    expect(form).to_contain_text("✓ Approved by alice: “looks good”")
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=10000)
    expect(page.locator(".card[data-id=publish]")).to_have_attribute("data-status", "succeeded")
    assert Approval.objects.get(run_id=run_id).comment == "looks good"
    assert Run.objects.get(pk=run_id).outputs["publish"] == "looks good"


def test_an_approver_rejects_and_the_run_fails_with_the_comment(page, server, alice, bob):
    run_id = waiting_run(page, server, alice, approvers="[bob]")
    expect(page.locator("[data-testid=approval]")).to_have_count(0)  # alice is not asked: no form
    login_as(page, server, bob)
    open_monitor(page, server, run_id)
    form = page.locator("[data-testid=approval]")
    expect(form).to_contain_text("asked of bob")
    form.get_by_label("Comment").fill("not this week")
    form.get_by_role("button", name="Reject").click()
    expect(form).to_contain_text("✕ Rejected by bob: “not this week”")
    run = Run.objects.get(pk=run_id)
    for _ in range(100):
        if run.status != "waiting" and run.finished:
            break
        page.wait_for_timeout(100)
        run = Run.objects.get(pk=run_id)
    assert run.status == "failed" and "not this week" in run.error


def test_staff_who_are_not_asked_get_no_form_and_a_refused_decision_says_why(page, server, alice, staff):
    run_id = waiting_run(page, server, alice)
    form = page.locator("[data-testid=approval]")
    expect(form).to_be_visible()
    approval = Approval.objects.get(run_id=run_id)
    Approval.objects.filter(pk=approval.pk).update(decision="expired")  # the deadline passed meanwhile
    form.get_by_role("button", name="Approve").click()
    expect(page.locator("[data-testid=approval-error]")).to_have_text(re.compile(r"\S"))
    expect(form.get_by_role("button", name="Approve")).to_be_enabled()

    Approval.objects.filter(pk=approval.pk).update(decision="pending")
    login_as(page, server, staff)
    open_monitor(page, server, run_id)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "waiting")
    expect(page.locator("[data-testid=approvals][data-checked=true]")).to_be_attached()  # asked the server
    expect(page.locator("[data-testid=approval]")).to_have_count(0)
