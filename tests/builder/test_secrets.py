"""Secrets: write-only in the admin, from the environment too, and redacted from everything a run
stores and sends."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from builder import execution
from builder.models import Run, RunEvent, Secret, StepRun
from builder.routing import websocket_urlpatterns
from builder.runtime import secrets_for
from builder.services import Invalid, create_run, save_workflow

VALUE = "sk-very-secret-4242"
USES = """name: uses-secret
steps:
  - {id: header, uses: wait, with: {seconds: 0, value: "Bearer ${secrets.API_TOKEN}"}}
  - id: echo
    uses: python
    with: {function: "engine.functions.text:word_count", args: ["${secrets.API_TOKEN} and ${header}"]}
  - {id: boom, uses: fail, with: {message: "token ${secrets.API_TOKEN} was refused"}, on_error: continue}
outputs:
  seen: "${header}"
"""


@pytest.mark.django_db
def test_admin_never_shows_a_value_back_and_keeps_it_when_left_empty(client, staff):
    client.force_login(staff)
    response = client.post("/admin/builder/secret/add/",
                           {"owner": staff.pk, "name": "API_TOKEN", "value": VALUE, "description": "d"})
    assert response.status_code == 302
    secret = Secret.objects.get()
    page = client.get(f"/admin/builder/secret/{secret.pk}/change/").content.decode()
    assert VALUE not in page
    assert VALUE not in client.get("/admin/builder/secret/").content.decode()
    client.post(f"/admin/builder/secret/{secret.pk}/change/",
                {"owner": staff.pk, "name": "API_TOKEN", "value": "", "description": "e"})
    secret.refresh_from_db()
    assert secret.value == VALUE and secret.description == "e"


@pytest.mark.django_db
def test_a_staff_users_secrets_come_from_the_environment_and_the_admin(monkeypatch, staff):
    monkeypatch.setenv("WORKFLOW_SECRET_FROM_ENV", "env-value")
    Secret.objects.create(owner=staff, name="FROM_ADMIN", value="admin-value")
    assert secrets_for(staff).items() >= {"FROM_ENV": "env-value", "FROM_ADMIN": "admin-value"}.items()


@pytest.mark.django_db
def test_an_unknown_secret_is_a_validation_error_before_any_run(alice):
    Secret.objects.create(owner=alice, name="API_TOKEN", value=VALUE)
    with pytest.raises(Invalid) as info:
        save_workflow(alice, USES.replace("secrets.API_TOKEN}\"}}", "secrets.API_TOKN}\"}}"))
    assert "unknown secret 'API_TOKN' (did you mean 'API_TOKEN'?)" in info.value.issues[0].message


@pytest.mark.django_db(transaction=True)
async def test_a_secret_value_is_nowhere_in_what_a_run_stored_or_sent(alice):
    await Secret.objects.acreate(owner=alice, name="API_TOKEN", value=VALUE)
    workflow = await sync_to_async(save_workflow)(alice, USES)
    run = await sync_to_async(create_run)(workflow, alice, {})
    ws = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/runs/{run.pk}/")
    ws.scope["user"] = alice
    await ws.connect()
    sent = [await ws.receive_from()]
    await execution.execute(run.pk)
    while '"run.finished"' not in sent[-1]:
        sent.append(await ws.receive_from(timeout=5))
    await ws.disconnect()
    client = AsyncClient()
    await client.aforce_login(alice)
    api = [(await client.get(f"/api/runs/{run.pk}?items=true")).content.decode(),
           (await client.get(f"/api/runs/{run.pk}/steps")).content.decode()]
    run = await Run.objects.aget(pk=run.pk)
    stored = [json.dumps([run.outputs, run.error, run.summary, run.inputs])]
    stored += [json.dumps(e.data) async for e in RunEvent.objects.filter(run=run)]
    stored += [json.dumps([s.inputs, s.output, s.error]) async for s in StepRun.objects.filter(run=run)]
    everything = "\n".join(sent + api + stored)
    assert run.status == "succeeded" and run.outputs == {"seen": "Bearer ***"}
    assert VALUE not in everything
    assert "token *** was refused" in everything and "Bearer ***" in everything
