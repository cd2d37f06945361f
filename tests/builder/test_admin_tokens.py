"""The admin's API tokens: staff see everyone's (never the secret or its hash) and revoke them;
nobody makes or edits one there; a non-staff user never reaches the page."""

import pytest

from builder import tokens
from builder.models import ApiToken

pytestmark = pytest.mark.django_db


def test_staff_see_tokens_without_their_secret_and_revoke_them(client, staff, alice):
    token, plain = tokens.make(alice, "ci-bot")
    client.force_login(staff)
    page = client.get("/admin/builder/apitoken/").content.decode()
    assert "ci-bot" in page and "alice" in page and token.prefix in page and "active" in page
    detail = client.get(f"/admin/builder/apitoken/{token.pk}/change/").content.decode()
    for secret in (plain, token.token_hash):
        assert secret not in page and secret not in detail
    assert client.get("/admin/builder/apitoken/add/").status_code == 403
    assert tokens.check(plain) is not None
    response = client.post("/admin/builder/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and tokens.check(plain) is None
    assert "revoked" in client.get("/admin/builder/apitoken/").content.decode()


def test_edits_through_the_change_form_are_refused(client, staff, alice):
    token, _ = tokens.make(alice, "ci-bot")
    client.force_login(staff)
    response = client.post(f"/admin/builder/apitoken/{token.pk}/change/", {"name": "renamed", "prefix": "x"})
    assert response.status_code == 403
    assert ApiToken.objects.get(pk=token.pk).name == "ci-bot"


def test_non_staff_never_reach_tokens(client, alice):
    token, _ = tokens.make(alice, "mine")
    client.force_login(alice)
    for url in ("/admin/builder/apitoken/", f"/admin/builder/apitoken/{token.pk}/change/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = client.post("/admin/builder/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302 and ApiToken.objects.get(pk=token.pk).revoked_at is None
