"""Who sees and decides an approval (builder/approvals.py clauses 2 and 5): another user
nothing (404, the socket closed), an approver only the run they are asked about and only while
it is pending, never its cancel; hostile decision bodies refused before anything changes."""

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from builder.models import Approval, Run
from builder.services import save_workflow
from tests.builder.test_approvals import logged_in, post, publish, reaches, start

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def carol(django_user_model):
    return django_user_model.objects.create_user("carol", password="carol-password")


async def test_5_another_user_neither_sees_nor_decides_and_an_approver_sees_only_while_asked(alice, bob, carol):
    from builder.asgi import application

    run_id = await start(await logged_in(alice), alice, publish())
    await reaches(run_id, "waiting")
    approval = await Approval.objects.aget(run_id=run_id)
    carols, bobs = await logged_in(carol), await logged_in(bob)
    for url in (f"/api/approvals/{approval.pk}", f"/api/runs/{run_id}", f"/runs/{run_id}/"):
        assert (await carols.get(url)).status_code == 404, url
    refused = await post(carols, f"/api/approvals/{approval.pk}/decide", {"approve": True})
    assert refused.status_code == 404
    assert (await post(carols, "/api/approvals/999999/decide", {"approve": True})).status_code == 404
    # bob, asked to decide, sees that run (not his): the page, the approval with the run, the socket
    assert (await bobs.get(f"/runs/{run_id}/")).status_code == 200
    assert (await bobs.get(f"/api/runs/{run_id}")).json()["status"] == "waiting"
    steps = await bobs.get(f"/api/runs/{run_id}/steps?path=sign_off")
    assert steps.status_code == 200, steps.content
    for action in ("cancel", "rerun", "resume"):  # reading only: acting on it stays the owner's
        assert (await post(bobs, f"/api/runs/{run_id}/{action}", {})).status_code == 404, action
    detail = (await bobs.get(f"/api/approvals/{approval.pk}")).json()
    assert detail["run"]["id"] == run_id and [s["path"] for s in detail["run"]["steps"]] == ["draft", "sign_off"]
    assert await socket_status(application, bob, run_id) == "waiting"
    assert await socket_status(application, carol, run_id) == 4403
    other = await start(await logged_in(alice), alice, publish(approvers="[carol]").replace("publish", "other", 1))
    await reaches(other, "waiting")
    assert (await bobs.get(f"/runs/{other}/")).status_code == 404, "only the run he is asked about"
    decided = await post(bobs, f"/api/approvals/{approval.pk}/decide", {"approve": True, "comment": "ok"})
    assert decided.status_code == 200
    await reaches(run_id, "succeeded")
    assert (await bobs.get(f"/runs/{run_id}/")).status_code == 404, "decided: no longer asked"
    assert (await bobs.get(f"/api/runs/{run_id}")).status_code == 404
    assert (await bobs.get(f"/api/approvals/{approval.pk}")).json()["run"] is None


async def socket_status(application, user, run_id: int):
    """What a websocket of ``user`` on the run gets: the run's status in its snapshot, or the close code."""
    from channels.db import database_sync_to_async
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    @database_sync_to_async
    def cookie():
        session = SessionStore()
        session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.save()
        return session.session_key

    key = await cookie()
    ws = WebsocketCommunicator(application, f"/ws/runs/{run_id}/",
                               headers=[(b"cookie", f"sessionid={key}".encode()), (b"origin", b"http://localhost"),
                                        (b"host", b"localhost")])
    connected, _ = await ws.connect()
    assert connected
    message = await ws.receive_output(5)
    await ws.disconnect()
    if message["type"] == "websocket.close":
        return message["code"]
    return json.loads(message["text"])["run"]["status"]


async def test_an_approver_watching_the_socket_cannot_cancel_the_run(alice, bob):
    from builder.asgi import application

    run_id = await start(await logged_in(alice), alice, publish())
    await reaches(run_id, "waiting")
    session = await logged_in(bob)
    key = session.cookies["sessionid"].value
    ws = WebsocketCommunicator(application, f"/ws/runs/{run_id}/",
                               headers=[(b"cookie", f"sessionid={key}".encode()), (b"origin", b"http://localhost"),
                                        (b"host", b"localhost")])
    assert (await ws.connect())[0]
    await ws.receive_json_from(5)
    await ws.send_json_to({"type": "cancel"})
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from(5))["type"] == "pong"
    await ws.disconnect()
    assert (await Run.objects.aget(pk=run_id)).status == "waiting"


def test_hostile_decisions_are_refused_before_anything_changes(alice_client, alice, bob):
    from django.test import Client

    from builder.services import create_run

    run = create_run(save_workflow(alice, publish()), alice, {})
    approval = Approval.objects.create(run=run, path="sign_off", message="Go?", approver_names=["bob"],
                                       requested_at=timezone.now())
    approval.approvers.set([bob])
    client = Client()
    client.force_login(bob)
    url = f"/api/approvals/{approval.pk}/decide"
    for body in ({"approve": True, "comment": "x" * 2001}, {"approve": True, "comment": "a\x00b"},
                 {"comment": "no approve"}, {"approve": "maybe"}):
        response = client.post(url, data=json.dumps(body), content_type="application/json")
        assert response.status_code == 422, (body, response.content)
    for bad in ("/api/approvals/0/decide", f"/api/approvals/{2**63}/decide", "/api/approvals/x/decide"):
        assert client.post(bad, data="{}", content_type="application/json").status_code in (404, 422)
    assert client.post(url, data="not json", content_type="application/json").status_code == 400
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(bob)
    refused = strict.post(url, data=json.dumps({"approve": True}), content_type="application/json")
    assert refused.status_code == 403, "a session's write needs the CSRF token"
    anonymous = Client().post(url, data=json.dumps({"approve": True}), content_type="application/json")
    assert anonymous.status_code == 401
    assert Approval.objects.get(pk=approval.pk).decision == "pending"



