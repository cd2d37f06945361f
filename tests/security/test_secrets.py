"""Secrets belong to users: a run reads only what its owner may use, and every form of a
value is redacted (JSON-escaped, URL-encoded, base64 at any offset)."""

import asyncio
import base64
import json
from urllib.parse import quote, quote_plus

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings

import engine
from builder import execution
from builder.models import RunEvent, Secret
from builder.runtime import secrets_for
from builder.services import Invalid, create_run, save_workflow
from engine import Action, Params

ALICE_VALUE = "alice-private-token-9731"


def uses(name: str) -> str:
    return f"""name: reads-{name.lower().replace('_', '-')}
steps:
  - {{id: w, uses: wait, with: {{seconds: 0, value: "got ${{secrets.{name}}}"}}}}
"""


@pytest.fixture
def alices_secret(alice):
    return Secret.objects.create(owner=alice, name="ALICE_KEY", value=ALICE_VALUE)


@pytest.mark.django_db
def test_another_users_secret_is_unknown_and_never_suggested(alices_secret, bob):
    Secret.objects.create(owner=bob, name="BOB_KEY", value="bob-value-1234")
    with pytest.raises(Invalid) as info:
        save_workflow(bob, uses("ALICE_KEY"))
    message = info.value.issues[0].message
    assert "unknown secret 'ALICE_KEY'" in message
    with pytest.raises(Invalid) as info:
        save_workflow(bob, uses("ALICE_KEYS"))
    assert "ALICE_KEY'" not in info.value.issues[0].message, "did-you-mean names only bob's secrets"
    assert "ALICE_KEY" not in secrets_for(bob) and secrets_for(bob) == {"BOB_KEY": "bob-value-1234"}


@pytest.mark.django_db
def test_a_secret_shared_with_a_user_or_a_group_is_theirs_to_use(alices_secret, bob, django_user_model):
    carol = django_user_model.objects.create_user("carol", password="carol-password")
    assert "ALICE_KEY" not in secrets_for(bob) and "ALICE_KEY" not in secrets_for(carol)
    alices_secret.shared_with.add(bob)
    ops = Group.objects.create(name="ops")
    carol.groups.add(ops)
    alices_secret.shared_with_groups.add(ops)
    assert secrets_for(bob)["ALICE_KEY"] == ALICE_VALUE
    assert secrets_for(carol)["ALICE_KEY"] == ALICE_VALUE
    save_workflow(bob, uses("ALICE_KEY"))  # now valid
    # a secret of bob's own with the same name wins over the shared one
    Secret.objects.create(owner=bob, name="ALICE_KEY", value="bobs-own-value")
    assert secrets_for(bob)["ALICE_KEY"] == "bobs-own-value"


@pytest.mark.django_db
def test_staff_share_a_secret_in_the_admin(client, staff, alice, bob):
    client.force_login(staff)
    response = client.post("/admin/builder/secret/add/", {
        "owner": alice.pk, "name": "SHARED", "value": "shared-value-555", "description": "",
        "shared_with": [bob.pk]})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert secrets_for(bob)["SHARED"] == "shared-value-555" and secrets_for(alice)["SHARED"] == "shared-value-555"


@pytest.mark.django_db
def test_the_servers_environment_secrets_are_for_staff_unless_allowed(monkeypatch, alice, staff):
    monkeypatch.setenv("WORKFLOW_SECRET_DEPLOY_KEY", "server-wide-value")
    assert "DEPLOY_KEY" not in secrets_for(alice)
    assert secrets_for(staff)["DEPLOY_KEY"] == "server-wide-value"
    with pytest.raises(Invalid):
        save_workflow(alice, uses("DEPLOY_KEY"))
    with override_settings(WORKFLOW_ENV_SECRETS_FOR=["alice"]):
        assert secrets_for(alice)["DEPLOY_KEY"] == "server-wide-value"
    ops = Group.objects.create(name="deployers")
    alice.groups.add(ops)
    with override_settings(WORKFLOW_ENV_SECRETS_FOR=["group:deployers"]):
        assert secrets_for(alice)["DEPLOY_KEY"] == "server-wide-value"


@pytest.mark.django_db(transaction=True)
async def test_a_run_reads_only_what_its_owner_may_use_at_run_time(alice, bob):
    from asgiref.sync import sync_to_async
    from tests.builder.helpers import finished

    secret = await Secret.objects.acreate(owner=alice, name="ALICE_KEY", value=ALICE_VALUE)
    await sync_to_async(secret.shared_with.add)(bob)
    workflow = await sync_to_async(save_workflow)(bob, uses("ALICE_KEY"))
    run = await sync_to_async(create_run)(workflow, bob, {})
    await sync_to_async(secret.shared_with.remove)(bob)  # unshared after bob saved and queued
    execution.schedule(run.pk)
    done = await finished(run.pk)
    assert done.status == "failed"
    texts = [json.dumps([done.outputs, done.error])]
    texts += [json.dumps(e.data) async for e in RunEvent.objects.filter(run=done)]
    assert ALICE_VALUE not in "".join(texts)


class EncodesParams(Params):
    value: str


class Encodes(Action):
    """What an allowed function might do with a secret: escape, encode, pack it in longer data."""

    name = "encodes"
    Params = EncodesParams

    async def run(self, params, ctx):
        value = params.value
        ctx.log("sending " + base64.b64encode(f"user:{value}".encode()).decode())
        return {
            "json_body": json.dumps({"token": value}),
            "twice": json.dumps(json.dumps({"token": value})),
            "query": "https://example.org/?t=" + quote(value, safe=""),
            "form": "t=" + quote_plus(value),
            "path": "/v/" + quote(value),
            "basic": [base64.b64encode(f"{p}{value}:x".encode()).decode() for p in ("", "u:", "us:")],
            "urlsafe": base64.urlsafe_b64encode(value.encode()).decode(),
        }


def test_every_encoded_form_of_a_secret_is_redacted_from_events_and_outputs():
    value = 'sk/"quoted"+&=secret é-77'
    registry = engine.default_registry()
    registry.register(Encodes)
    text = 'name: enc\nsteps:\n  - {id: e, uses: encodes, with: {value: "${secrets.K}"}}\n'
    workflow = engine.load(text, registry=registry, secrets=["K"])
    sink = engine.ListSink()
    runner = engine.Runner(registry, secrets={"K": value})
    result = asyncio.run(runner.run(engine.plan(workflow, registry), {}, sink))
    assert result.status == "succeeded", result.error
    everything = json.dumps([e.as_dict() for e in sink.events] + [result.outputs])
    raw = value.encode()
    leaks = [value, json.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value), quote(value),
             base64.b64encode(raw).decode()[4:-4], base64.urlsafe_b64encode(raw).decode()[4:-4]]
    for form in leaks:
        assert form not in everything, form
    for packed in result.outputs["e"]["basic"]:  # what is left of base64 data decodes to no part of it
        assert "***" in packed
    assert "***" in result.outputs["e"]["json_body"] and "***" in result.outputs["e"]["twice"]


@pytest.mark.django_db
def test_users_keep_their_own_secrets_through_the_api_and_never_read_a_value_back(client, alice, bob,
                                                                                   alices_secret):
    client.force_login(bob)
    put = client.put("/api/secrets/BOB_TOKEN", {"value": "bob-secret-value-1", "description": "ci"},
                     content_type="application/json")
    assert put.status_code == 201 and "bob-secret-value-1" not in put.content.decode()
    listed = client.get("/api/secrets").json()
    assert [(s["name"], s["source"]) for s in listed] == [("BOB_TOKEN", "mine")], "alice's are not listed"
    assert secrets_for(bob)["BOB_TOKEN"] == "bob-secret-value-1"
    # another user's secret is a 404 for changes, exactly as one that does not exist
    assert client.delete("/api/secrets/ALICE_KEY").status_code == 404
    replaced = client.put("/api/secrets/ALICE_KEY", {"value": "bob-made-this"}, content_type="application/json")
    assert replaced.status_code == 201  # bob's own secret of that name: alice's is untouched
    alices_secret.refresh_from_db()
    assert alices_secret.value == ALICE_VALUE
    assert client.put("/api/secrets/__x%20y", {"value": "v"}, content_type="application/json").status_code == 422
    assert client.delete("/api/secrets/BOB_TOKEN").status_code == 204
    assert "BOB_TOKEN" not in secrets_for(bob)
