"""POST /api/runs/{id}/restart against hostile and mistaken requests: a clear 4xx, never a 500,
never another user's run, never a run still going on; CSRF for sessions, tokens without."""

import json

import pytest
from django.test import Client

from builder import tokens
from builder.models import Run
from builder.services import create_run, save_workflow

pytestmark = pytest.mark.django_db

FLOW = """name: guarded
steps:
  - {id: fetch, uses: wait, with: {seconds: 0, value: 1}}
  - id: per_file
    foreach: [1, 2]
    steps:
      - {id: get, uses: wait, with: {seconds: 0}}
  - id: load
    steps:
      - {id: put, uses: wait, with: {seconds: 0}}
    finally:
      - {id: tidy, uses: wait, with: {seconds: 0}}
    compensate:
      - {id: undo, uses: wait, with: {seconds: 0}}
finally:
  - {id: notify, uses: wait, with: {seconds: 0}}
"""


@pytest.fixture
def ended(alice):
    run = create_run(save_workflow(alice, FLOW), alice, {})
    Run.objects.filter(pk=run.pk).update(status=Run.Status.FAILED)
    return run


def restart(client, run_id, body, **extra):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(f"/api/runs/{run_id}/restart", data=data, content_type="application/json", **extra)


@pytest.mark.parametrize("path, words", [
    ("nope", "the run's version has no step 'nope'"),
    ("per_file.nope", "no step 'per_file.nope'"),
    ("fetch[3]", "'fetch' is a action step, not a foreach or repeat: it has no [3]"),
    ("per_file[99].get", "never started per_file[99]"),
    ("notify", "a step of on_failure, finally or compensate is no starting point"),
    ("load.tidy", "a step of on_failure, finally or compensate is no starting point"),
    ("load.compensate.undo", "a step of on_failure, finally or compensate is no starting point"),
    ("a..b", "is not a step path"),
    ("per_file[-1].get", "is not a step path"),
    ("per_file[1e3].get", "is not a step path"),
    ("per_file[99999999999].get", "is not a step path"),
    ("<script>", "no step '<script>'"),
])
def test_a_step_path_the_run_does_not_have_is_a_400_that_says_why(alice_client, ended, path, words):
    answer = restart(alice_client, ended.pk, {"from_step": path})
    assert answer.status_code == 400, answer.content
    assert words in answer.json()["detail"], answer.json()
    assert Run.objects.count() == 1, "nothing was started"


@pytest.mark.parametrize("body", [{}, {"from_step": ""}, {"from_step": "a\u0000b"}, {"from_step": "x" * 501},
                                  {"from_step": 3}, {"from_step": None}, [], "\"fetch\"", "{not json", ""])
def test_a_malformed_body_is_a_4xx_never_a_500(alice_client, ended, body):
    answer = restart(alice_client, ended.pk, body)
    assert answer.status_code in (400, 422), answer.content
    assert answer.json()["detail"] and Run.objects.count() == 1


@pytest.mark.parametrize("status", ["queued", "running", "waiting"])
def test_a_run_still_going_on_is_a_409(alice_client, ended, status):
    Run.objects.filter(pk=ended.pk).update(status=status)
    answer = restart(alice_client, ended.pk, {"from_step": "per_file"})
    assert answer.status_code == 409
    assert answer.json()["detail"] == (f"run #{ended.pk} is still {status}: restart it from a step once it has "
                                       "ended (or cancel it first)")


def test_another_users_run_is_a_404_as_a_missing_one(ended, bob):
    client = Client()
    client.force_login(bob)
    assert restart(client, ended.pk, {"from_step": "fetch"}).status_code == 404
    assert restart(client, ended.pk + 1000, {"from_step": "fetch"}).status_code == 404
    assert restart(client, 2**63, {"from_step": "fetch"}).status_code == 422
    _, plain = tokens.make(bob, "bob-bot")
    answer = restart(Client(), ended.pk, {"from_step": "fetch"}, headers={"Authorization": f"Bearer {plain}"})
    assert answer.status_code == 404 and Run.objects.count() == 1


def test_anonymous_is_a_401(ended):
    assert restart(Client(), ended.pk, {"from_step": "fetch"}).status_code == 401


def test_a_session_needs_csrf_and_a_token_does_not(ended, alice, settings):
    settings.WORKFLOW_EXECUTION = "embedded"
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert restart(strict, ended.pk, {"from_step": "fetch"}).status_code == 403
    strict.get("/login/")
    token = strict.cookies["csrftoken"].value
    answer = restart(strict, ended.pk, {"from_step": "load"}, headers={"X-CSRFToken": token})
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["resumed_from"] == ended.pk and data["resume"]["from_step"] == "load"
    assert data["resume"]["version"] == "original" and data["resume"]["from_version"] == 1
    _, plain = tokens.make(alice, "alice-bot")
    answer = restart(Client(), ended.pk, {"from_step": "per_file[0].get"}, headers={"Authorization": f"Bearer {plain}"})
    assert answer.status_code == 400 and "never started per_file[0]" in answer.json()["detail"]
    answer = restart(Client(), ended.pk, {"from_step": "per_file.get"}, headers={"Authorization": f"Bearer {plain}"})
    assert answer.status_code == 201 and answer.json()["origin_detail"] == {"run": ended.pk,
                                                                           "from_step": "per_file.get"}


def test_a_version_that_no_longer_loads_is_a_422_with_its_problems(alice_client, alice):
    from builder.models import Skill

    skill = Skill.objects.create(name="pause", action="wait", config={"seconds": 0})
    run = create_run(save_workflow(alice, "name: paused\nsteps:\n  - {id: p, uses: pause}\n"), alice, {})
    Run.objects.filter(pk=run.pk).update(status=Run.Status.SUCCEEDED)
    skill.enabled = False
    skill.save()
    answer = restart(alice_client, run.pk, {"from_step": "p"})
    assert answer.status_code == 422
    assert "is not valid now" in answer.json()["detail"] and answer.json()["errors"], answer.json()
    assert Run.objects.count() == 1
