"""/api/schedules/describe (a cron in words, its next fire times) and turning a workflow's
triggers on and off (/api/workflows/{id}/triggers/enabled)."""

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from builder.models import Trigger, Workflow
from builder.services import save_workflow
from builder.triggers_api import describe_cron

pytestmark = pytest.mark.django_db

WITH_TRIGGERS = """name: nightly-report
triggers:
  - id: nightly
    schedule: "0 2 * * *"
    timezone: Europe/Paris
  - id: from_ci
    webhook: true
steps:
  - id: a
    uses: wait
    with: {seconds: 0}
"""


def describe(client, **params):
    return client.get("/api/schedules/describe", params)


def post(client, url, body, **headers):
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def test_a_cron_is_described_in_words_with_its_next_five_times_in_its_timezone(alice_client):
    answer = describe(alice_client, cron="0 2 * * *", timezone="Europe/Paris")
    assert answer.status_code == 200
    data = answer.json()
    assert data["text"] == "At 02:00 AM" and data["problem"] is None
    times = [datetime.fromisoformat(t) for t in data["next"]]
    assert len(times) == 5 and times == sorted(times)
    paris = ZoneInfo("Europe/Paris")
    assert all(t.astimezone(paris).hour == 2 and t.minute == 0 for t in times)
    assert all(t.utcoffset() == t.astimezone(paris).utcoffset() for t in times), "given in the schedule's timezone"
    assert describe(alice_client, cron="0 2 * * 1").json()["text"] == "At 02:00 AM, only on Monday"
    assert describe(alice_client, cron="@daily").json()["text"] == "At 12:00 AM"


def test_the_next_times_follow_the_clock_of_their_timezone_across_a_dst_change():
    now = datetime(2026, 3, 27, 12, 0, tzinfo=ZoneInfo("UTC"))  # Paris goes to summer time on the 29th
    data = describe_cron("0 2 * * *", "Europe/Paris", now=now)
    offsets = [datetime.fromisoformat(t).utcoffset().total_seconds() / 3600 for t in data["next"]]
    assert data["next"][0].startswith("2026-03-28T02:00:00") and offsets[0] == 1 and offsets[-1] == 2


@pytest.mark.parametrize("cron, says", [
    ("0 2 * *", "a schedule has 5"),
    ("0 2 * * * *", "no seconds"),
    ("0 2 * * * 2030", "a schedule has 5"),
    ("61 * * * *", "minute 61 is out of range 0-59"),
    ("a b c d e", "invalid cron"),
    ("H 0 * * *", "invalid cron"),
    ("@often", "invalid cron"),
    ("", "a schedule has 5"),
])
def test_an_invalid_cron_is_a_422_that_says_why(alice_client, cron, says):
    answer = describe(alice_client, cron=cron)
    assert answer.status_code == 422, answer.content
    assert says in answer.json()["detail"]


def test_a_cron_that_never_fires_is_described_with_its_problem(alice_client):
    data = describe(alice_client, cron="0 0 31 2 *").json()
    assert data["next"] == [] and "never fires" in data["problem"]


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "", "utc "])
def test_an_unknown_timezone_is_a_422(alice_client, zone):
    answer = describe(alice_client, cron="0 2 * * *", timezone=zone)
    assert answer.status_code == 422
    assert "timezone" in answer.json()["detail"]
    assert "did you mean 'Europe/Paris'" in describe(alice_client, cron="0 2 * * *", timezone="Europe/Pari").json()["detail"]


@pytest.mark.parametrize("params", [
    {"cron": "0 " * 150},
    {"cron": ",".join(["1"] * 100) + " * * * *"},
    {"cron": "0 2 * * *", "timezone": "Europe/" + "x" * 100},
    {"cron": "0 2 *\x00 * *"},
    {},
])
def test_hostile_lengths_and_characters_are_refused_with_their_place(alice_client, params):
    answer = describe(alice_client, **params)
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"] and (not body.get("errors") or body["errors"][0]["path"].startswith("query."))


def test_describe_needs_a_login():
    assert describe(Client(), cron="0 2 * * *").status_code == 401


def test_the_workflow_output_says_whether_its_triggers_are_on_and_which_they_are(alice, alice_client):
    workflow = save_workflow(alice, WITH_TRIGGERS)
    data = alice_client.get(f"/api/workflows/{workflow.pk}").json()
    assert data["triggers_enabled"] is True
    assert data["triggers"] == [{"id": "from_ci", "kind": "webhook", "token_hint": ""},
                                {"id": "nightly", "kind": "schedule", "token_hint": ""}]
    save_workflow(alice, WITH_TRIGGERS.replace("  - id: from_ci\n    webhook: true\n", ""), "no hook", workflow)
    listed = alice_client.get("/api/workflows/").json()
    assert [t["id"] for t in listed[0]["triggers"]] == ["nightly"], "only the current version's"


def test_triggers_are_turned_off_and_on(alice, alice_client):
    workflow = save_workflow(alice, WITH_TRIGGERS)
    updated = Workflow.objects.get(pk=workflow.pk).updated_at
    answer = post(alice_client, f"/api/workflows/{workflow.pk}/triggers/enabled", {"enabled": False})
    assert answer.status_code == 200 and answer.json()["triggers_enabled"] is False
    row = Workflow.objects.get(pk=workflow.pk)
    assert row.triggers_enabled is False and row.version == 1 and row.updated_at == updated
    answer = post(alice_client, f"/api/workflows/{workflow.pk}/triggers/enabled", {"enabled": True})
    assert answer.json()["triggers_enabled"] is True and Workflow.objects.get(pk=workflow.pk).triggers_enabled


@pytest.mark.parametrize("body", [{}, {"enabled": "maybe"}, {"enabled": None}, [True]])
def test_enabled_must_be_a_boolean(alice, alice_client, body):
    workflow = save_workflow(alice, WITH_TRIGGERS)
    assert post(alice_client, f"/api/workflows/{workflow.pk}/triggers/enabled", body).status_code == 422
    assert Workflow.objects.get(pk=workflow.pk).triggers_enabled is True


def test_another_users_workflow_is_a_404(alice, bob):
    workflow = save_workflow(alice, WITH_TRIGGERS)
    client = Client()
    client.force_login(bob)
    assert post(client, f"/api/workflows/{workflow.pk}/triggers/enabled", {"enabled": False}).status_code == 404
    assert post(client, "/api/workflows/999999/triggers/enabled", {"enabled": False}).status_code == 404
    assert Workflow.objects.get(pk=workflow.pk).triggers_enabled is True


def test_a_session_needs_the_csrf_token(alice):
    workflow = save_workflow(alice, WITH_TRIGGERS)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    url = f"/api/workflows/{workflow.pk}/triggers/enabled"
    assert post(client, url, {"enabled": False}).status_code == 403
    assert Workflow.objects.get(pk=workflow.pk).triggers_enabled is True
    client.get("/login/")
    answer = post(client, url, {"enabled": False}, **{"X-CSRFToken": client.cookies["csrftoken"].value})
    assert answer.status_code == 200
    assert Workflow.objects.get(pk=workflow.pk).triggers_enabled is False


def test_turned_on_again_schedules_start_from_now_not_from_the_slots_missed_while_off(alice, alice_client):
    workflow = save_workflow(alice, WITH_TRIGGERS.replace("timezone: Europe/Paris", "catch_up: true"))
    url = f"/api/workflows/{workflow.pk}/triggers/enabled"
    Trigger.objects.filter(workflow=workflow).update(next_slot=datetime(2020, 1, 1, 2, tzinfo=ZoneInfo("UTC")))
    post(alice_client, url, {"enabled": False})
    assert Trigger.objects.get(workflow=workflow, trigger_id="nightly").next_slot.year == 2020, "off: left as it was"
    post(alice_client, url, {"enabled": True})
    assert Trigger.objects.get(workflow=workflow, trigger_id="nightly").next_slot is None, "the scheduler computes it from now"
    post(alice_client, url, {"enabled": True})  # already on: nothing moves
