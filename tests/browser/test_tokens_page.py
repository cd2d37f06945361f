"""The Tokens page in a real Chromium: make a token, see it once (and copy it), use it from a
script against the live server, revoke it, and the script gets 401."""

import time

import httpx
import pytest
from playwright.sync_api import expect

from builder.models import ApiToken, Run
from builder.services import save_workflow
from tests.conftest import SIMPLE

from .conftest import login_as
from .test_accessibility import serious_violations

pytestmark = pytest.mark.django_db(transaction=True)


def test_make_see_once_use_and_revoke_a_token(page, server, alice, shot):
    workflow = save_workflow(alice, SIMPLE)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    login_as(page, server, alice)
    page.goto(f"{server.url}/")
    page.click("[data-testid=nav-tokens]")
    expect(page.locator("[data-testid=no-tokens]")).to_be_visible()

    page.fill("#token-name", "deploy-bot")
    page.select_option("#token-expiry", "90")
    page.click("[data-testid=new-token-form] button")
    shown = page.locator("[data-testid=new-token]")
    expect(shown).to_contain_text("you will not see it again")
    token = page.locator("[data-testid=new-token-value]").input_value()
    assert token.startswith("wfb_") and len(token) == 47
    page.click("[data-testid=copy-token]")
    expect(shown.locator("[data-copied]")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == token
    row = page.locator("tr[data-state=active]")
    expect(row).to_contain_text(token[:12])
    expect(row.locator("[data-testid=last-used]")).to_have_text("never")
    assert serious_violations(page) == []
    for width in (1024, 1400):
        page.set_viewport_size({"width": width, "height": 700})
        shot(f"made-{width}")

    # a script: no cookie, no CSRF token, the owner's permissions
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=10) as script:
        assert [w["name"] for w in script.get("/api/workflows/").json()] == ["simple"]
        started = script.post(f"/api/workflows/{workflow.pk}/runs", json={"inputs": {"n": 5}})
        assert started.status_code == 201, started.text
        run_id = started.json()["id"]
        deadline = time.monotonic() + 15
        while script.get(f"/api/runs/{run_id}").json()["finished_at"] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        run = script.get(f"/api/runs/{run_id}").json()
        assert (run["status"], run["outputs"]) == ("succeeded", {"a": 5, "b": 50})
        assert script.post("/api/tokens", json={"name": "more"}).status_code == 403
    stored = Run.objects.get(pk=run_id)
    assert (stored.origin, stored.origin_detail) == ("api", {"token": "deploy-bot"})

    page.goto(f"{server.url}/tokens/")  # seen once: never again
    expect(page.locator("[data-testid=new-token]")).to_have_count(0)
    assert token[12:] not in page.content()
    expect(page.locator("tr[data-state=active] [data-testid=last-used]")).to_contain_text("just now")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[aria-label='Revoke deploy-bot']")
    expect(page.locator("[data-testid=messages]")).to_contain_text("Revoked deploy-bot")
    expect(page.locator("tr[data-token] [data-testid=token-state]")).to_have_text("revoked")
    shot("revoked")
    assert ApiToken.objects.get().revoked_at is not None
    refused = httpx.get(f"{server.url}/api/workflows/", headers=auth, timeout=10)
    assert refused.status_code == 401


def test_a_taken_name_is_refused_on_the_page(page, server, alice, bob):
    from builder import tokens

    tokens.make(alice, "ci")
    bobs, _ = tokens.make(bob, "bobs-token")
    login_as(page, server, alice)
    page.goto(f"{server.url}/tokens/")
    expect(page.locator("tr[data-token]")).to_have_count(1)  # not bob's
    page.fill("#token-name", "ci")
    page.click("[data-testid=new-token-form] button")
    expect(page.locator("[data-testid=problems]")).to_contain_text("already have a token named 'ci'")
    expect(page.locator("[data-testid=new-token]")).to_have_count(0)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(f"{server.url}/tokens/{bobs.pk}/revoke/", headers={"X-CSRFToken": csrf},
                                 fail_on_status_code=False)
    assert response.status == 404
    bobs.refresh_from_db()
    assert bobs.revoked_at is None
