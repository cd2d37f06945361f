"""Personal API tokens (builder/tokens.py, builder/tokens_api.py): stored hashed, a bearer token
works on every /api/ endpoint as its owner without CSRF, another user's objects stay 404, bad
tokens are 401, "last used" is written at most once a minute, tokens cannot make tokens."""

import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.test import AsyncClient, Client
from django.utils import timezone

from builder import tokens
from builder.api import api
from builder.models import ApiToken, Approval, Run, Secret, Workflow
from builder.services import create_run, save_workflow
from tests.builder.helpers import finished
from tests.conftest import SIMPLE

pytestmark = pytest.mark.django_db


def bearer(plain: str) -> dict:
    return {"headers": {"Authorization": f"Bearer {plain}"}}


def send(client, method: str, url: str, body=None, headers=None):
    """A JSON request (GET: no body) with ``headers``, from a Client or an AsyncClient."""
    if method == "get":
        return client.get(url, headers=headers)
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(url, data=data, content_type="application/json", headers=headers)


# -- the token itself --------------------------------------------------------------------------
def test_a_token_is_random_shown_once_and_stored_as_its_sha256(alice):
    row, plain = tokens.make(alice, "deploy-bot")
    other, plain2 = tokens.make(alice, "ci")
    assert re.fullmatch(r"wfb_[A-Za-z0-9_-]{43}", plain) and plain != plain2
    row.refresh_from_db()
    assert row.token_hash == hashlib.sha256(plain.encode()).hexdigest() and row.prefix == plain[:12]
    stored = json.dumps(list(ApiToken.objects.values()), default=str)
    assert plain not in stored and plain[12:] not in stored
    assert tokens.authenticate(f"Bearer {plain}") == alice
    assert tokens.authenticate(f"bearer   {plain}  ") == alice


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic YWxpY2U6cHc=", "Bearer wfb_unknown",
                                    "Bearer not-ours", "Bearer wfb_" + "a" * 300, "Bearer wfb_é"])
def test_a_header_without_a_live_token_authenticates_nobody(alice, header):
    tokens.make(alice, "deploy-bot")
    assert tokens.authenticate(header) is None


def test_revoked_expired_and_inactive_owners_tokens_are_no_tokens(alice, bob):
    revoked, revoked_plain = tokens.make(alice, "revoked")
    tokens.revoke(revoked)
    expired, expired_plain = tokens.make(alice, "expired", timezone.now() + timedelta(days=1))
    live, live_plain = tokens.make(bob, "bobs")
    assert tokens.authenticate(f"Bearer {expired_plain}") == alice
    assert tokens.check(expired_plain, now=timezone.now() + timedelta(days=1, seconds=1)) is None
    assert tokens.authenticate(f"Bearer {revoked_plain}") is None
    bob.is_active = False
    bob.save()
    assert tokens.authenticate(f"Bearer {live_plain}") is None


def test_names_are_unique_among_live_tokens_and_a_revoked_ones_name_comes_free(alice, bob):
    first, _ = tokens.make(alice, "deploy-bot")
    with pytest.raises(tokens.TokenError, match="already have a token named 'deploy-bot'"):
        tokens.make(alice, "deploy-bot")
    tokens.make(bob, "deploy-bot")  # names are per owner
    tokens.revoke(first)
    again, plain = tokens.make(alice, " deploy-bot ")
    assert again.name == "deploy-bot" and not ApiToken.objects.filter(pk=first.pk).exists()
    with pytest.raises(tokens.TokenError):
        tokens.make(alice, "past", timezone.now() - timedelta(seconds=1))
    with pytest.raises(tokens.TokenError):
        tokens.expiry(0)


def test_last_used_is_written_at_most_once_a_minute(alice, django_assert_num_queries):
    row, plain = tokens.make(alice, "poller")
    now = timezone.now()
    with django_assert_num_queries(2):  # the lookup, and the first use's UPDATE
        assert tokens.check(plain, now=now) is not None
    with django_assert_num_queries(1):  # within the minute: the lookup alone
        assert tokens.check(plain, now=now + timedelta(seconds=59)) is not None
    row.refresh_from_db()
    assert row.last_used_at == now
    later = now + timedelta(seconds=61)
    tokens.check(plain, now=later)
    row.refresh_from_db()
    assert row.last_used_at == later


def test_expired_and_revoked_tokens_answer_401_and_no_token_is_logged(alice, caplog):
    expired, expired_plain = tokens.make(alice, "expired", timezone.now() + timedelta(days=1))
    revoked, revoked_plain = tokens.make(alice, "revoked")
    live, live_plain = tokens.make(alice, "live")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    tokens.revoke(revoked)
    client = Client(enforce_csrf_checks=True)
    with caplog.at_level("DEBUG"):
        for plain in (expired_plain, revoked_plain):
            assert client.get("/api/workflows/", **bearer(plain)).status_code == 401
            assert send(client, "post", "/api/validate", {"yaml": SIMPLE}, **bearer(plain)).status_code == 401
        assert client.get("/api/workflows/", **bearer(live_plain)).status_code == 200
    logged = caplog.text
    assert not any(p[4:] in logged for p in (expired_plain, revoked_plain, live_plain))


def test_a_request_with_a_token_marks_it_used(alice):
    row, plain = tokens.make(alice, "ci")
    assert Client().get("/api/workflows/", **bearer(plain)).status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None and timezone.now() - row.last_used_at < timedelta(seconds=10)


# -- every endpoint ----------------------------------------------------------------------------
#: bodies for the routes that take one (any other gets {}: 422 is still past authentication)
BODIES = {
    ("post", "/api/workflows/"): {"yaml": SIMPLE.replace("name: simple", "name: by-token"), "message": "made"},
    ("put", "/api/workflows/{workflow_id}"): {"yaml": SIMPLE.replace("Simple", "Simpler"), "message": "m"},
    ("post", "/api/workflows/{workflow_id}/runs"): {"inputs": {"n": 3}},
    ("post", "/api/validate"): {"yaml": SIMPLE},
    ("put", "/api/secrets/{name}"): {"value": "v", "description": "d"},
    ("post", "/api/approvals/{approval_id}/decide"): {"approve": True},
    ("post", "/api/tokens"): {"name": "made-by-a-token"},
}
#: writes that succeed with a token (proof that no CSRF token is needed)
WRITES_OK = {("post", "/api/workflows/"), ("put", "/api/workflows/{workflow_id}"),
             ("post", "/api/workflows/{workflow_id}/runs"), ("post", "/api/validate"),
             ("put", "/api/secrets/{name}"), ("delete", "/api/secrets/{name}"),
             ("post", "/api/runs/{run_id}/cancel"), ("post", "/api/runs/{run_id}/rerun"),
             ("delete", "/api/workflows/{workflow_id}")}
#: session only, by design (tokens_api.py): 403 with a token
SESSION_ONLY = {("post", "/api/tokens"), ("delete", "/api/tokens/{token_id}")}
ORDER = {"get": 0, "post": 1, "put": 1, "patch": 1, "delete": 2}


def routes() -> list[tuple[str, str]]:
    """Every (method, path template) of the API, from its OpenAPI document; deletes last."""
    found = [(method, path) for path, ops in openapi().items() for method in ops]
    return sorted(found, key=lambda r: (ORDER.get(r[0], 1), r[1] == "/api/workflows/{workflow_id}", r))


def openapi(part: str = "paths") -> dict:
    return api.get_openapi_schema(path_prefix="/api/")[part]


def body(method: str, path: str):
    """The body for a route: ours from BODIES, else the least its schema requires."""
    if (method, path) in BODIES:
        return BODIES[(method, path)]
    content = openapi()[path][method].get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return example(schema, openapi("components")) if schema else {}


def example(schema: dict, components: dict):
    """A value that fits a JSON Schema's required parts (refs, anyOf, objects, scalars)."""
    if "$ref" in schema:
        return example(components["schemas"][schema["$ref"].rsplit("/", 1)[1]], components)
    if "anyOf" in schema:
        return example(next(s for s in schema["anyOf"] if s.get("type") != "null"), components)
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: example(props.get(name, {}), components) for name in schema.get("required", [])}
    return {"string": "a", "integer": 1, "number": 1, "boolean": True, "array": []}.get(kind)


def fill(path: str, ids: dict, method: str = "get") -> str:
    """The URL of a route: its path's ids from ``ids`` (1 for others), its required query parameters."""
    params = openapi()[path][method].get("parameters", [])
    kinds = {p["name"]: p.get("schema", {}).get("type") for p in params if p["in"] == "path"}
    url = re.sub(r"{(\w+)}", lambda m: str(ids.get(m.group(1), 1 if kinds.get(m.group(1)) == "integer" else "a")),
                 path)
    required = [p["name"] for p in params if p["in"] == "query" and p.get("required")]
    return url + ("?" + "&".join(f"{name}=1" for name in required) if required else "")


@pytest.fixture
def alices_things(alice):
    workflow = save_workflow(alice, SIMPLE, "created")
    run = create_run(workflow, alice, {"n": 1})
    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED, finished_at=timezone.now())
    approval = Approval.objects.create(run=run, path="a", message="ok?", requested_at=timezone.now())
    approval.approvers.add(alice)
    Secret.objects.create(owner=alice, name="API_KEY", value="v")
    token, plain = tokens.make(alice, "deploy-bot")
    ids = {"workflow_id": workflow.pk, "run_id": run.pk, "number": 1, "approval_id": approval.pk,
           "name": "API_KEY", "token_id": token.pk}
    return ids, plain


def test_the_route_list_is_the_whole_api():
    found = routes()
    assert len(found) >= 25 and SESSION_ONLY <= set(found) and WRITES_OK <= set(found)


@pytest.mark.django_db(transaction=True)
async def test_a_bearer_token_works_on_every_endpoint_without_csrf(alices_things):
    ids, plain = alices_things
    client = AsyncClient(enforce_csrf_checks=True)  # as a script: no cookie, no CSRF token
    answers = {}
    for method, path in routes():
        response = await send(client, method, fill(path, ids, method), body(method, path), **bearer(plain))
        answers[(method, path)] = response.status_code
        if (method, path) in SESSION_ONLY:
            assert response.status_code == 403 and "session" in response.json()["detail"], path
        else:
            assert response.status_code not in (401, 403) and response.status_code < 500, (method, path, response.content)
        if (method, path) in WRITES_OK:
            assert 200 <= response.status_code < 300, (method, path, response.content)
    assert not await Workflow.objects.filter(pk=ids["workflow_id"]).aexists(), "the last call deleted it"
    for run in [r async for r in Run.objects.all()]:
        await finished(run.pk)
    assert len(answers) == len(routes())


def test_every_endpoint_refuses_a_bad_token_with_401_even_with_a_session(alices_things, alice):
    ids, plain = alices_things
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    for method, path in routes():
        for header in ("Bearer wfb_not-a-token", f"Bearer {plain}x", "Bearer"):
            response = send(client, method, fill(path, ids, method), body(method, path),
                            headers={"Authorization": header})
            assert response.status_code == 401, (method, path, header, response.status_code)


def test_anonymous_and_session_requests_keep_their_rules(alices_things, alice):
    ids, _ = alices_things
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.get("/api/workflows/").status_code == 401
    assert send(anonymous, "post", "/api/validate", {"yaml": SIMPLE}).status_code in (401, 403)
    session = Client(enforce_csrf_checks=True)
    session.force_login(alice)
    assert session.get("/api/workflows/").status_code == 200
    refused = send(session, "post", "/api/validate", {"yaml": SIMPLE})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert send(session, "post", "/api/tokens", {"name": "x"}).status_code == 403
    session.get("/tokens/")  # sets the csrftoken cookie
    csrf = {"headers": {"X-CSRFToken": session.cookies["csrftoken"].value}}
    assert send(session, "post", "/api/validate", {"yaml": SIMPLE}, **csrf).status_code == 200
    # another scheme in Authorization (a proxy's Basic auth) leaves the session alone
    assert session.get("/api/workflows/", headers={"Authorization": "Basic YWxpY2U6cHc="}).status_code == 200


def test_with_a_token_another_users_objects_are_still_404(alices_things, bob):
    ids, _ = alices_things
    _, bobs = tokens.make(bob, "bobs")
    client = Client(enforce_csrf_checks=True)
    for method, path in routes():
        if not re.search(r"{(workflow_id|run_id|approval_id|token_id)}", path):
            continue
        response = send(client, method, fill(path, ids, method), body(method, path), **bearer(bobs))
        expected = {403} if (method, path) in SESSION_ONLY else {404}
        if (method, path) not in BODIES and "requestBody" in openapi()[path][method]:
            expected.add(422)  # a body made from a schema this test does not know: it never reached the object
        assert response.status_code in expected, (method, path, response.status_code)
    assert send(client, "delete", "/api/secrets/API_KEY", **bearer(bobs)).status_code == 404
    assert Workflow.objects.filter(pk=ids["workflow_id"]).exists() and Secret.objects.filter(name="API_KEY").exists()
    listed = client.get("/api/workflows/", **bearer(bobs)).json()
    assert listed == []


# -- managing tokens ---------------------------------------------------------------------------
def test_a_session_makes_lists_and_revokes_tokens_which_a_token_cannot(alice, bob):
    session = Client()
    session.force_login(alice)
    made = send(session, "post", "/api/tokens", {"name": "deploy-bot", "expires_in_days": 30})
    assert made.status_code == 201
    data = made.json()
    plain = data["token"]
    assert plain.startswith("wfb_") and data["prefix"] == plain[:12] and data["active"]
    assert timedelta(days=29) < timezone.datetime.fromisoformat(data["expires_at"]) - timezone.now() <= timedelta(days=30)
    assert send(session, "post", "/api/tokens", {"name": "deploy-bot"}).status_code == 409
    assert send(session, "post", "/api/tokens", {"name": "x", "expires_in_days": 0}).status_code == 422
    with_token = Client()
    listed = with_token.get("/api/tokens", **bearer(plain))
    assert listed.status_code == 200 and [t["name"] for t in listed.json()] == ["deploy-bot"]
    assert plain not in listed.content.decode() and "hash" not in listed.content.decode()
    assert send(with_token, "post", "/api/tokens", {"name": "more"}, **bearer(plain)).status_code == 403
    assert with_token.delete(f"/api/tokens/{data['id']}", **bearer(plain)).status_code == 403
    bobs = Client()
    bobs.force_login(bob)
    assert bobs.delete(f"/api/tokens/{data['id']}").status_code == 404
    assert bobs.get("/api/tokens").json() == []
    revoked = session.delete(f"/api/tokens/{data['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] and not revoked.json()["active"]
    assert with_token.get("/api/workflows/", **bearer(plain)).status_code == 401


@pytest.mark.django_db(transaction=True)
async def test_a_run_started_with_a_token_says_so(alice, workflow):
    _, plain = await tokens_make(alice, "deploy-bot")
    client = AsyncClient(enforce_csrf_checks=True)
    started = await send(client, "post", f"/api/workflows/{workflow.pk}/runs", {"inputs": {}}, **bearer(plain))
    assert started.status_code == 201
    run = await finished(started.json()["id"])
    assert (run.origin, run.origin_detail, run.started_by_id) == ("api", {"token": "deploy-bot"}, alice.pk)


async def tokens_make(owner, name):
    from asgiref.sync import sync_to_async

    return await sync_to_async(tokens.make)(owner, name)


# -- the Tokens page ---------------------------------------------------------------------------
def test_the_tokens_page_shows_a_new_token_once_and_revokes_only_mine(client, alice, bob):
    assert client.get("/tokens/").status_code == 302  # to the login page
    client.force_login(alice)
    page = client.post("/tokens/", {"name": "ci", "expires_in_days": "7"})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    plain = re.search(r'value="(wfb_[^"]+)"', page.content.decode()).group(1)
    assert "you will not see it again" in page.content.decode()
    assert tokens.authenticate(f"Bearer {plain}") == alice
    again = client.get("/tokens/").content.decode()
    assert plain[:12] in again and plain[12:] not in again
    assert client.post("/tokens/", {"name": "ci"}).status_code == 400
    for days in ("²", "0", "99999", "-1"):
        assert client.post("/tokens/", {"name": "other", "expires_in_days": days}).status_code == 400, days
    bobs, _ = tokens.make(bob, "bobs")
    assert client.post(f"/tokens/{bobs.pk}/revoke/").status_code == 404
    mine = ApiToken.objects.get(owner=alice)
    assert client.post(f"/tokens/{mine.pk}/revoke/").status_code == 302
    assert tokens.authenticate(f"Bearer {plain}") is None
