"""The JSON API: every endpoint, ownership (another user's object is a 404) and bad input."""

import json

import pytest
from django.test import AsyncClient, Client

from builder.models import Run, Workflow
from builder.services import create_run
from tests.builder.helpers import finished
from tests.conftest import SIMPLE

pytestmark = pytest.mark.django_db


def send(client, method, url, body=None):
    return getattr(client, method)(url, data=json.dumps(body) if body is not None else None,
                                   content_type="application/json")


# -- workflows ---------------------------------------------------------------------------------
def test_create_read_update_list_delete(alice_client):
    created = send(alice_client, "post", "/api/workflows/", {"yaml": SIMPLE, "message": "first"})
    assert created.status_code == 201
    data = created.json()
    assert (data["name"], data["version"], data["owner"]) == ("simple", 1, "alice")
    wid = data["id"]
    assert alice_client.get(f"/api/workflows/{wid}").json()["yaml"] == SIMPLE
    updated = send(alice_client, "put", f"/api/workflows/{wid}", {"yaml": SIMPLE.replace("Simple", "Simpler"),
                                                                  "message": "retitled"})
    assert updated.status_code == 200 and updated.json()["version"] == 2 and updated.json()["title"] == "Simpler"
    versions = alice_client.get(f"/api/workflows/{wid}/versions").json()
    assert [(v["number"], v["message"]) for v in versions] == [(2, "retitled"), (1, "first")]
    assert "title: Simple\n" in alice_client.get(f"/api/workflows/{wid}/versions/1").json()["yaml"]
    assert [w["name"] for w in alice_client.get("/api/workflows/").json()] == ["simple"]
    assert alice_client.delete(f"/api/workflows/{wid}").status_code == 204
    assert alice_client.get(f"/api/workflows/{wid}").status_code == 404


def test_invalid_yaml_answers_422_with_positions(alice_client):
    response = send(alice_client, "post", "/api/workflows/", {"yaml": "name: x\nsteps:\n  - {id: a, uses: wiat}\n"})
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error == {"line": 3, "column": 13, "path": "steps[0].uses", "step_path": "a",
                     "message": "unknown action 'wiat' (did you mean 'wait'?)"}


def test_bodies_are_validated_with_field_paths(alice_client):
    response = send(alice_client, "post", "/api/workflows/", {"message": "no yaml"})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "the request is not valid"
    assert body["errors"] == [{"line": 0, "column": 0, "path": "body.yaml", "message": "Field required"}]
    response = alice_client.post("/api/workflows/", data="not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"].startswith("Cannot parse request body")


def test_what_no_database_column_holds_is_refused_before_the_database_sees_it(alice_client):
    """Valid YAML that PostgreSQL's columns refuse (too long for its varchar, or YAML's "\\0",
    the NUL character): a 422 naming the place, never a 500; the same on SQLite."""
    step = "steps:\n  - {id: a, uses: wait, with: {seconds: 0}}\n"
    for title, message in [("x" * 201, "the title is longer than 200 characters"),
                           ('"x\\0y"', "the title may not contain the NUL character")]:
        refused = send(alice_client, "post", "/api/workflows/", {"yaml": f"name: t\ntitle: {title}\n{step}"})
        assert refused.status_code == 422
        assert refused.json()["errors"] == [{"line": 2, "column": 1, "path": "title", "step_path": "",
                                             "message": message}]
    nested = f"name: t\nsteps:\n  - id: a\n    steps:\n      - {{id: {'b' * 101}, uses: fail, with: {{message: x}}}}\n"
    long_id = send(alice_client, "post", "/api/workflows/", {"yaml": nested})
    assert long_id.status_code == 422
    [error] = long_id.json()["errors"]
    assert (error["line"], error["path"]) == (5, "steps[0].steps[0].id") and "at most 100 characters" in error["message"]
    made = send(alice_client, "post", "/api/workflows/",
                {"yaml": f"name: d\ntitle: {'x' * 200}\ninputs:\n  s: {{type: string, default: \"a\\0b\"}}\n{step}"})
    assert made.status_code == 201
    started = send(alice_client, "post", f"/api/workflows/{made.json()['id']}/runs", {})
    assert started.status_code == 422
    assert started.json()["errors"][0]["message"] == "inputs.s: text may not contain the NUL character"
    assert not Run.objects.exists() and list(Workflow.objects.values_list("name", flat=True)) == ["d"]


def test_yaml_over_one_mebibyte_is_413(alice_client):
    big = SIMPLE + "# " + "x" * (1 << 20) + "\n"
    assert send(alice_client, "post", "/api/workflows/", {"yaml": big}).status_code == 413
    assert send(alice_client, "post", "/api/validate", {"yaml": big}).status_code == 413


def test_unknown_ids_are_404(alice_client):
    assert alice_client.get("/api/workflows/999").status_code == 404
    assert alice_client.get("/api/runs/999").status_code == 404
    assert alice_client.get("/api/workflows/1/versions/99").status_code == 404


def test_another_users_objects_are_404_for_every_endpoint(client, bob, workflow, alice):
    run = create_run(workflow, alice, {})
    client.force_login(bob)
    wid, rid = workflow.pk, run.pk
    for method, url, body in [
        ("get", f"/api/workflows/{wid}", None),
        ("put", f"/api/workflows/{wid}", {"yaml": SIMPLE}),
        ("delete", f"/api/workflows/{wid}", None),
        ("get", f"/api/workflows/{wid}/versions", None),
        ("get", f"/api/workflows/{wid}/versions/1", None),
        ("get", f"/api/workflows/{wid}/runs", None),
        ("post", f"/api/workflows/{wid}/runs", {}),
        ("get", f"/api/runs/{rid}", None),
        ("get", f"/api/runs/{rid}/steps", None),
        ("post", f"/api/runs/{rid}/cancel", None),
        ("post", f"/api/runs/{rid}/rerun", None),
        ("post", f"/api/runs/{rid}/resume", None),
    ]:
        response = send(client, method, url, body)
        assert response.status_code == 404, (method, url, response.status_code)
    assert client.get("/api/workflows/").json() == []
    assert client.get("/api/runs/").json() == []
    assert Workflow.objects.filter(pk=wid).exists() and Run.objects.get(pk=rid).status == "queued"


def test_staff_see_everyones_workflows(client, staff, workflow):
    client.force_login(staff)
    assert client.get(f"/api/workflows/{workflow.pk}").status_code == 200


def test_anonymous_requests_are_refused_and_pages_redirect_to_login(client, workflow):
    assert client.get("/api/workflows/").status_code == 401
    assert send(client, "post", "/api/validate", {"yaml": SIMPLE}).status_code == 401
    page = client.get(f"/workflows/{workflow.pk}/")
    assert page.status_code == 302 and page["Location"].startswith("/login/")


def test_csrf_is_enforced_for_session_requests(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert send(client, "post", "/api/workflows/", {"yaml": SIMPLE}).status_code == 403
    client.get("/login/")
    token = client.cookies["csrftoken"].value
    response = client.post("/api/workflows/", data=json.dumps({"yaml": SIMPLE}), content_type="application/json",
                           headers={"X-CSRFToken": token})
    assert response.status_code == 201


def test_validate_returns_errors_as_data_and_the_step_tree(alice_client):
    ok = send(alice_client, "post", "/api/validate", {"yaml": SIMPLE}).json()
    assert ok["valid"] and [s["id"] for s in ok["steps"]] == ["a", "b"]
    assert ok["inputs"] == {"n": {"type": "integer", "default": 2}}
    bad = send(alice_client, "post", "/api/validate", {"yaml": "name: x\nsteps:\n  - {id: a, uses: wait}\n"}).json()
    assert not bad["valid"] and bad["errors"][0]["path"] == "steps[0].with.seconds"


def test_actions_list_builtins_and_enabled_skills_with_schemas(alice_client):
    from builder.models import Skill

    Skill.objects.create(name="pause", action="wait", config={"seconds": "${inputs.s}"},
                         input_schema={"type": "object", "properties": {"s": {"type": "number"}}}, category="Flow")
    Skill.objects.create(name="hidden", action="wait", config={"seconds": 1}, enabled=False)
    actions = {a["name"]: a for a in alice_client.get("/api/actions").json()}
    assert {"wait", "merge", "fail", "python", "pause"} <= set(actions) and "hidden" not in actions
    assert actions["pause"]["kind"] == "skill" and actions["pause"]["schema"]["properties"]["s"]["type"] == "number"
    assert actions["wait"]["schema"]["required"] == ["seconds"]


def test_openapi_docs_are_served(alice_client):
    assert alice_client.get("/api/docs").status_code == 200
    schema = alice_client.get("/api/openapi.json").json()
    assert "/api/workflows/" in schema["paths"]


# -- runs --------------------------------------------------------------------------------------
@pytest.fixture
async def async_alice(alice):
    client = AsyncClient()
    await client.aforce_login(alice)
    return client


async def apost(client, url, body=None):
    return await client.post(url, data=json.dumps(body or {}), content_type="application/json")


@pytest.mark.django_db(transaction=True)
async def test_start_a_run_which_goes_on_after_the_request(async_alice, workflow):
    response = await apost(async_alice, f"/api/workflows/{workflow.pk}/runs", {"inputs": {"n": 4}})
    assert response.status_code == 201 and response.json()["status"] == "queued"
    run = await finished(response.json()["id"])
    assert run.status == "succeeded" and run.outputs == {"a": 4, "b": 40}
    detail = (await async_alice.get(f"/api/runs/{run.pk}")).json()
    assert [(s["path"], s["status"]) for s in detail["steps"]] == [("a", "succeeded"), ("b", "succeeded")]
    assert detail["summary"]["action_steps"] == 2 and detail["last_seq"] >= 6
    listed = (await async_alice.get(f"/api/runs/?workflow={workflow.pk}")).json()
    assert [r["id"] for r in listed] == [run.pk]


@pytest.mark.django_db(transaction=True)
async def test_bad_inputs_are_refused_before_a_run_is_made(async_alice, workflow):
    response = await apost(async_alice, f"/api/workflows/{workflow.pk}/runs", {"inputs": {"n": "many"}})
    assert response.status_code == 422 and "must be of type integer" in response.json()["detail"]
    response = await apost(async_alice, f"/api/workflows/{workflow.pk}/runs", {"inputs": {"zz": 1}})
    assert response.status_code == 422 and "unknown input 'zz'" in response.json()["detail"]
    assert await Run.objects.acount() == 0


@pytest.mark.django_db(transaction=True)
async def test_cancel_a_running_run(async_alice, alice):
    from asgiref.sync import sync_to_async

    from builder.services import save_workflow

    wf = await sync_to_async(save_workflow)(alice, "name: slow\nsteps:\n  - {id: a, uses: wait, with: {seconds: 30}}\n")
    run_id = (await apost(async_alice, f"/api/workflows/{wf.pk}/runs")).json()["id"]
    for _ in range(100):
        if (await Run.objects.aget(pk=run_id)).status == "running":
            break
        import asyncio
        await asyncio.sleep(0.02)
    response = await apost(async_alice, f"/api/runs/{run_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    run = await finished(run_id)
    steps = [s async for s in run.steps.all()]
    assert [(s.path, s.status) for s in steps] == [("a", "cancelled")]


@pytest.mark.django_db(transaction=True)
async def test_rerun_and_resume_from_the_failed_step(async_alice, alice):
    from asgiref.sync import sync_to_async

    from builder.services import save_workflow

    text = """name: flaky
inputs: {fail: {type: boolean, default: true}}
steps:
  - {id: first, uses: wait, with: {seconds: 0, value: 1}}
  - {id: second, if: "inputs.fail", uses: fail, with: {message: boom}}
  - {id: third, uses: wait, with: {seconds: 0, value: "${first + 1}"}}
"""
    wf = await sync_to_async(save_workflow)(alice, text)
    first_id = (await apost(async_alice, f"/api/workflows/{wf.pk}/runs")).json()["id"]
    failed = await finished(first_id)
    assert failed.status == "failed" and "boom" in failed.error
    conflict = await apost(async_alice, f"/api/runs/{first_id}/resume")
    assert conflict.status_code == 201
    resumed = await finished(conflict.json()["id"])
    assert resumed.resumed_from_id == first_id and resumed.status == "failed"
    reused = await resumed.steps.aget(path="first")
    assert reused.status == "succeeded" and reused.output == 1
    events = [e.data async for e in resumed.events.filter(type="step.succeeded")]
    assert events[0]["path"] == "first" and events[0]["reused"] is True
    again = await apost(async_alice, f"/api/runs/{first_id}/rerun")
    assert again.status_code == 201
    rerun = await finished(again.json()["id"])
    assert rerun.resumed_from_id is None and rerun.status == "failed"
    ok = await finished((await apost(async_alice, f"/api/workflows/{wf.pk}/runs", {"inputs": {"fail": False}})).json()["id"])
    not_resumable = await apost(async_alice, f"/api/runs/{ok.pk}/resume")
    assert not_resumable.status_code == 409


def test_a_save_from_a_stale_version_is_refused_with_409(alice_client, alice):
    from builder.services import save_workflow
    from tests.conftest import SIMPLE

    workflow = save_workflow(alice, SIMPLE)
    changed = SIMPLE.replace("title: Simple", "title: Changed")
    ok = alice_client.put(f"/api/workflows/{workflow.pk}", {"yaml": changed, "base_version": 1},
                          content_type="application/json")
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = alice_client.put(f"/api/workflows/{workflow.pk}", {"yaml": SIMPLE, "base_version": 1},
                             content_type="application/json")
    assert stale.status_code == 409 and "version 2" in stale.json()["detail"]
    forced = alice_client.put(f"/api/workflows/{workflow.pk}", {"yaml": SIMPLE}, content_type="application/json")
    assert forced.status_code == 200 and forced.json()["version"] == 3


def test_a_steps_log_lines_in_order_and_only_its_own(alice_client, alice, bob, workflow):
    from builder.models import RunEvent

    run = create_run(workflow, alice, {})
    for seq, (path, message) in enumerate([("a", "one"), ("b", "other"), ("a", "two")], start=1):
        RunEvent.objects.create(run=run, seq=seq, type="log",
                                data={"type": "log", "seq": seq, "ts": 1.0, "path": path, "level": "info",
                                      "message": message})
    lines = alice_client.get(f"/api/runs/{run.pk}/logs?path=a").json()
    assert [(line["seq"], line["message"]) for line in lines] == [(1, "one"), (3, "two")]
    assert alice_client.get(f"/api/runs/{run.pk}/logs?path=a&limit=1").json()[0]["message"] == "one"
    other = Client()
    other.force_login(bob)
    assert other.get(f"/api/runs/{run.pk}/logs?path=a").status_code == 404
