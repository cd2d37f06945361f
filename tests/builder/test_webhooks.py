"""Webhooks: ``POST /hooks/<token>/`` starts a run (builder/hooks_views.py, builder/webhooks.py),
and the API that makes, rotates and lists their tokens (builder/webhooks_api.py)."""

import hashlib
import hmac
import json

import pytest
from django.test import AsyncClient, Client

from builder import webhooks
from builder.models import Run, RunEvent, Secret, Trigger
from builder.services import save_workflow
from tests.builder.helpers import finished

KEY = "hook-key-Zq81"
HOOKED = """name: hooked
triggers:
  - {id: open, webhook: true, inputs: {payload: "${trigger.body}", headers: "${trigger.headers}"}}
  - {id: signed, webhook: true, secret: HOOK_KEY, inputs: {payload: "${trigger.body}"}}
  - {id: counted, webhook: true, inputs: {n: "${trigger.body.n}"}}
  - {id: night, schedule: "0 2 * * *"}
inputs:
  payload: {type: object, default: {}}
  headers: {type: object, default: {}}
  n: {type: integer, default: 0}
steps:
  - {id: a, uses: wait, with: {seconds: 0, value: "${inputs.payload}"}}
"""


def sign(raw: bytes, key: str = KEY) -> str:
    return "sha256=" + hmac.new(key.encode(), raw, hashlib.sha256).hexdigest()


@pytest.fixture
def hooked(alice):
    Secret.objects.create(owner=alice, name="HOOK_KEY", value=KEY)
    return save_workflow(alice, HOOKED)


def token_of(workflow, trigger_id: str) -> str:
    return webhooks.make_token(Trigger.objects.get(workflow=workflow, trigger_id=trigger_id))


def hook(client, token: str, body=b"{}", content_type="application/json", **headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(f"/hooks/{token}/", data=raw, content_type=content_type, headers=headers)


# -- refusals: no run is made ------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_bad_or_missing_signature_is_401_and_makes_no_run(hooked):
    token, client = token_of(hooked, "signed"), Client()
    raw = b'{"ref": "main"}'
    assert hook(client, token, raw).status_code == 401
    assert hook(client, token, raw, X_Signature_256=sign(raw, "wrong-key")).status_code == 401
    assert hook(client, token, raw, X_Signature_256=sign(b'{"ref": "evil"}')).status_code == 401
    assert hook(client, token, raw, X_Signature_256=sign(raw)[7:]).status_code == 401  # no "sha256="
    answer = hook(client, token, raw, X_Signature_256="sha256=" + "0" * 64)
    assert answer.status_code == 401 and "X-Signature-256" in answer.json()["detail"]
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_a_deleted_secret_refuses_every_signed_request(hooked, alice):
    token = token_of(hooked, "signed")
    Secret.objects.filter(owner=alice, name="HOOK_KEY").delete()
    raw = b"{}"
    assert hook(Client(), token, raw, X_Signature_256=sign(raw)).status_code == 401
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_an_oversized_body_is_413(hooked, settings):
    settings.WORKFLOW_WEBHOOK_MAX_BYTES = 1000
    token = token_of(hooked, "open")
    answer = hook(Client(), token, {"blob": "x" * 1000})
    assert answer.status_code == 413 and "1000 bytes" in answer.json()["detail"]
    assert hook(Client(), token, b"{}", CONTENT_LENGTH="5000").status_code == 413
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_415_or_400(hooked):
    token, client = token_of(hooked, "open"), Client()
    assert hook(client, token, b"a=1", content_type="application/x-www-form-urlencoded").status_code == 415
    assert hook(client, token, b"{}", content_type="text/plain").status_code == 415
    answer = hook(client, token, b'{"a": ')
    assert answer.status_code == 400 and "not valid JSON" in answer.json()["detail"]
    assert hook(client, token, b"  ").status_code == 400  # (with no body at all the client sends no type: 415)
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_unknown_tokens_and_other_methods_are_refused(hooked):
    token, client = token_of(hooked, "open"), Client()
    assert hook(client, "x" * 43).status_code == 404
    assert hook(client, token[:-1] + ("A" if token[-1] != "A" else "B")).status_code == 404
    assert hook(client, "short").status_code == 404
    assert client.get(f"/hooks/{token}/").status_code == 405
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_a_disabled_workflow_or_a_removed_trigger_answers_404(hooked, alice):
    token = token_of(hooked, "open")
    hooked.triggers_enabled = False
    hooked.save()
    assert hook(Client(), token).status_code == 404
    hooked.triggers_enabled = True
    hooked.save()
    without = HOOKED.replace('  - {id: open, webhook: true, inputs: {payload: "${trigger.body}", '
                             'headers: "${trigger.headers}"}}\n', "")
    save_workflow(alice, without, workflow=hooked)
    assert hook(Client(), token).status_code == 404
    alice.is_active = False
    alice.save()
    save_workflow(alice, HOOKED, workflow=hooked)  # back, with its token: but its owner is inactive
    assert hook(Client(), token).status_code == 404
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_past_the_rate_a_token_gets_429_with_retry_after(hooked, settings):
    settings.WORKFLOW_WEBHOOK_RATE = "2/hour"  # an hour: a window ending mid-test (the count reset) is rare
    token, other = token_of(hooked, "signed"), token_of(hooked, "open")
    client = Client()
    assert [hook(client, token).status_code for _ in range(2)] == [401, 401]  # counted, then refused
    answer = hook(client, token)
    assert answer.status_code == 429 and 1 <= int(answer.headers["Retry-After"]) <= 3600
    assert hook(client, other, b"{", ).status_code == 400  # another token has its own count


@pytest.mark.django_db
def test_inputs_that_do_not_fit_are_422_with_the_reason(hooked):
    answer = hook(Client(), token_of(hooked, "counted"), {"n": "many"})
    assert answer.status_code == 422 and "n" in answer.json()["detail"]
    answer = hook(Client(), token_of(hooked, "counted"), [1, 2])
    assert answer.status_code == 422
    assert Run.objects.count() == 0


# -- runs ------------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
async def test_a_good_signature_starts_a_run_with_the_body(hooked):
    token = await _token(hooked, "signed")
    raw = json.dumps({"ref": "main", "commits": [{"id": 1}]}).encode()
    answer = await AsyncClient().post(f"/hooks/{token}/", data=raw, content_type="application/json",
                                      headers={"X-Signature-256": sign(raw)})
    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["status"] == "queued" and body["url"] == f"/runs/{body['run']}/"
    run = await finished(body["run"])
    assert run.status == "succeeded" and run.inputs["payload"] == {"ref": "main", "commits": [{"id": 1}]}
    assert run.outputs == {"a": {"ref": "main", "commits": [{"id": 1}]}}
    assert (run.origin, run.origin_detail) == ("webhook", {"trigger": "signed"})
    github = await AsyncClient().post(f"/hooks/{token}/", data=raw, content_type="application/json",
                                      headers={"X-Hub-Signature-256": sign(raw)})
    assert github.status_code == 202
    await finished(github.json()["run"])


@pytest.mark.django_db(transaction=True)
async def test_credential_headers_never_reach_the_run(hooked):
    token = await _token(hooked, "open")
    secret_values = ["Bearer tok-1", "session=abc-2", "key-3", "sig-4", "proxy-5", "auth-6", "csrf-7"]
    headers = dict(zip(["Authorization", "Cookie", "X-Api-Key", "X-Hub-Signature", "Proxy-Authorization",
                        "X-Auth-Token", "X-CSRFToken"], secret_values), X_GitHub_Event="push")
    answer = await AsyncClient().post(f"/hooks/{token}/", data=b'{"a": 1}', content_type="application/json",
                                      headers=headers)
    assert answer.status_code == 202
    run = await finished(answer.json()["run"])
    kept = run.inputs["headers"]
    assert kept["x-github-event"] == "push" and kept["content-type"] == "application/json"
    assert not any(k in kept for k in ("authorization", "cookie", "x-api-key", "proxy-authorization"))
    stored = json.dumps([run.inputs, run.outputs, [e.data async for e in RunEvent.objects.filter(run=run)]])
    assert not any(value in stored for value in secret_values)


@pytest.mark.django_db(transaction=True)
async def test_a_rotated_token_stops_at_once(hooked, alice):
    client = AsyncClient()
    await client.aforce_login(alice)
    url = f"/api/workflows/{hooked.pk}/triggers/open/token"
    first = (await client.post(url)).json()
    second = await client.post(url)
    assert second.status_code == 201
    second = second.json()
    assert first["token"] != second["token"] and second["url"] == f"/hooks/{second['token']}/"
    assert second["hint"] == second["token"][-4:]
    assert (await AsyncClient().post(first["url"], data=b"{}", content_type="application/json")).status_code == 404
    answer = await AsyncClient().post(second["url"], data=b"{}", content_type="application/json")
    assert answer.status_code == 202
    await finished(answer.json()["run"])


@pytest.mark.django_db(transaction=True)
async def test_a_busy_workflow_that_skips_still_answers_202_skipped(hooked, alice):
    busy = (HOOKED.replace("name: hooked", "name: busy").replace("seconds: 0,", "seconds: 0.5,")
            .replace("steps:", "concurrency: {limit: 1, when_busy: skip}\nsteps:"))
    workflow = await _saved(alice, busy)
    token = await _token(workflow, "open")
    answers = [await AsyncClient().post(f"/hooks/{token}/", data=b"{}", content_type="application/json")
               for _ in range(2)]
    assert [a.status_code for a in answers] == [202, 202]
    assert [a.json()["status"] for a in answers] == ["queued", "skipped"]
    await finished(answers[0].json()["run"])


async def _token(workflow, trigger_id):
    from asgiref.sync import sync_to_async

    return await sync_to_async(token_of)(workflow, trigger_id)


async def _saved(user, text):
    from asgiref.sync import sync_to_async

    return await sync_to_async(save_workflow)(user, text)


# -- the API -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_triggers_list_shows_hints_never_tokens(hooked, alice_client):
    token = token_of(hooked, "open")
    listed = alice_client.get(f"/api/workflows/{hooked.pk}/triggers")
    assert listed.status_code == 200 and token not in listed.content.decode()
    rows = {t["id"]: t for t in listed.json()}
    assert set(rows) == {"open", "signed", "counted", "night"}
    assert rows["open"]["token_hint"] == token[-4:] and rows["open"]["token_created_at"]
    assert rows["signed"]["token_hint"] == "" and rows["signed"]["spec"]["secret"] == "HOOK_KEY"
    assert rows["night"]["kind"] == "schedule" and "next_slot" in rows["night"]
    answer = alice_client.post(f"/api/workflows/{hooked.pk}/triggers/night/token")
    assert answer.status_code == 422
    assert alice_client.post(f"/api/workflows/{hooked.pk}/triggers/nope/token").status_code == 404


@pytest.mark.django_db
def test_another_user_can_neither_list_nor_rotate(hooked, bob):
    token = token_of(hooked, "open")
    client = Client()
    client.force_login(bob)
    assert client.get(f"/api/workflows/{hooked.pk}/triggers").status_code == 404
    assert client.post(f"/api/workflows/{hooked.pk}/triggers/open/token").status_code == 404
    assert hook(Client(), token, b"{", ).status_code == 400  # the owner's token still opens it


@pytest.mark.django_db
def test_a_session_needs_the_csrf_token_to_rotate(hooked, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    url = f"/api/workflows/{hooked.pk}/triggers/open/token"
    assert client.post(url).status_code == 403
    assert Trigger.objects.get(workflow=hooked, trigger_id="open").token_hash == ""
    client.get("/")  # sets the csrftoken cookie
    answer = client.post(url, headers={"X-CSRFToken": client.cookies["csrftoken"].value})
    assert answer.status_code == 201
    row = Trigger.objects.get(workflow=hooked, trigger_id="open")
    assert row.token_hash == hashlib.sha256(answer.json()["token"].encode()).hexdigest()
    assert answer.json()["token"] not in (row.token_hash, row.token_hint)


# -- end to end, against a real daphne -------------------------------------------------------------
SETUP = """import os
from django.contrib.auth.models import User
from builder import webhooks
from builder.models import Secret, Trigger
from builder.services import save_workflow
user = User.objects.create_user('ann', password='ann-password')
Secret.objects.create(owner=user, name='HOOK_KEY', value=os.environ['HOOK_KEY'])
workflow = save_workflow(user, os.environ['HOOK_YAML'])
print('TOKEN=' + webhooks.make_token(Trigger.objects.get(workflow=workflow, trigger_id='signed')))
"""


async def test_a_signed_webhook_runs_in_a_real_server(tmp_path, new_database):
    import asyncio
    import os

    import httpx

    from tests.servers import Daphne, manage

    env = {**os.environ, **new_database(tmp_path), "DJANGO_DEBUG": "0", "LOG_LEVEL": "INFO",
           "HOOK_KEY": KEY, "HOOK_YAML": HOOKED}
    assert manage(env, "migrate", "-v0").returncode == 0
    done = manage(env, "shell", "-c", SETUP)
    assert done.returncode == 0, done.stderr
    token = done.stdout.split("TOKEN=")[1].strip()
    server = Daphne(env).require_started()
    try:
        async with httpx.AsyncClient(base_url=server.base) as client:
            raw = b'{"ref": "main"}'
            bad = await client.post(f"/hooks/{token}/", content=raw, headers={"Content-Type": "application/json"})
            assert bad.status_code == 401
            answer = await client.post(f"/hooks/{token}/", content=raw, headers={
                "Content-Type": "application/json", "X-Signature-256": sign(raw)})
            assert answer.status_code == 202, answer.text
            run_id = answer.json()["run"]
            await client.get("/login/")
            login = await client.post("/login/", data={"username": "ann", "password": "ann-password",
                                                       "csrfmiddlewaretoken": client.cookies["csrftoken"]},
                                      headers={"Referer": server.base + "/login/"})
            assert login.status_code == 302
            for _ in range(200):
                run = (await client.get(f"/api/runs/{run_id}")).json()
                if run["status"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.05)
            assert run["status"] == "succeeded" and run["outputs"] == {"a": {"ref": "main"}}
            assert (await client.post(f"/hooks/{token[:-3]}abc/", content=raw)).status_code == 404
    finally:
        server.stop()
    # Django's and our log lines never hold it; daphne's own access log (stdout at its default
    # verbosity, not Django logging) prints every path: docs/api.md says how to keep it out
    logged = [line for line in server.output if token in line]
    assert logged and all('] "POST /hooks/' in line for line in logged), logged


# -- the rate limit's counters -------------------------------------------------------------------
def test_rates_read_as_count_per_window():
    from builder.hooks_views import parse_rate

    assert parse_rate("60/min") == (60, 60) and parse_rate("10/second") == (10, 1)
    assert parse_rate("1000/hour") == (1000, 3600) and parse_rate("5") == (5, 60)
    assert parse_rate("0") is None and parse_rate("") is None
    with pytest.raises(ValueError):
        parse_rate("lots/min")


def test_the_celery_modes_counter_in_redis_counts_per_token_and_window():
    """Two web processes share the count: two counters on one Redis see each other's hits."""
    import os
    import uuid

    import redis

    from builder.hooks_views import LocalCounter, RedisCounter
    from tests.conftest import need_service

    url = f"redis://127.0.0.1:6379/{int(os.environ.get('TEST_REDIS_DB', '13'))}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: not there
        need_service("Redis", exc)
    prefix = f"wf_test_hooks_{uuid.uuid4().hex[:12]}:"
    one, two = RedisCounter(url, prefix), RedisCounter(url, prefix)
    try:
        assert [one.hit("tok", 7, 60), two.hit("tok", 7, 60), one.hit("tok", 7, 60)] == [1, 2, 3]
        assert two.hit("tok", 8, 60) == 1 and one.hit("other", 7, 60) == 1
        assert 0 < one.client.ttl(f"{prefix}webhook:tok:7") <= 61
    finally:
        for key in one.client.scan_iter(match=prefix + "*"):
            one.client.delete(key)
    local = LocalCounter()
    assert [local.hit("tok", 7, 60), local.hit("tok", 7, 60), local.hit("tok", 8, 60)] == [1, 2, 1]
