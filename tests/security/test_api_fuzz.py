"""No 500 for bad input (issue 10, item 11) and paged item lists (item 8): bodies over the
limit answer 413, numbers beyond what the database stores 422 or 404, error bodies have the
schema the OpenAPI document declares, a workflow with runs can be deleted, a run's items
come a page at a time; and a bounded schemathesis run against a real server finds no 5xx."""

import asyncio
import collections
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client

from builder import execution
from builder.models import Run, RunEvent, StepRun, Workflow, WorkflowVersion
from builder.services import save_workflow
from tests.builder.helpers import finished
from tests.conftest import SIMPLE
from tests.servers import Daphne, deployment_env, migrated

pytestmark = pytest.mark.django_db
HUGE = "99999999999999999999"  # 10**20: beyond SQLite's and PostgreSQL's 64-bit integers


def send(client, method, url, body=None):
    return getattr(client, method)(url, data=json.dumps(body) if body is not None else None,
                                   content_type="application/json")


def is_error_body(response) -> bool:
    """The declared ErrorsOut: {"detail": str, "errors": [{line, column, path, message}]}."""
    body = response.json()
    return isinstance(body.get("detail"), str) and all(
        set(e) == {"line", "column", "path", "message"} for e in body.get("errors", []))


@pytest.fixture
def alice_raw(alice):
    """alice's client that answers a crash with its 500 instead of raising it in the test."""
    client = Client(raise_request_exception=False)
    client.force_login(alice)
    return client


def test_a_body_over_two_mebibytes_answers_413_with_an_error_body(alice_raw):
    big = {"yaml": "name: x\nsteps: []\n# " + "x" * (2 << 20)}
    for url in ("/api/validate", "/api/workflows/"):
        response = send(alice_raw, "post", url, big)
        assert response.status_code == 413, (url, response.status_code)
        assert is_error_body(response) and "2 MiB" in response.json()["detail"]


def test_numbers_beyond_the_database_answer_422_or_404_never_500(alice_raw, workflow):
    wid = workflow.pk
    for method, url, body in [
        ("get", f"/api/workflows/{HUGE}", None),
        ("put", f"/api/workflows/{HUGE}", {"yaml": "name: x\nsteps: []\n"}),
        ("delete", f"/api/workflows/{HUGE}", None),
        ("get", f"/api/workflows/{wid}/versions/{HUGE}", None),
        ("get", f"/api/workflows/{HUGE}/runs", None),
        ("post", f"/api/workflows/{wid}/runs", {"version": int(HUGE)}),
        ("put", f"/api/workflows/{wid}", {"yaml": workflow.yaml, "base_version": int(HUGE)}),
        ("get", f"/api/runs/?workflow={HUGE}", None),
        ("get", f"/api/runs/{HUGE}", None),
        ("get", f"/api/runs/1?items=true&offset={HUGE}", None),
        ("get", f"/api/runs/1/steps?offset={HUGE}", None),
        ("get", f"/api/runs/{HUGE}/logs?path=a", None),
        ("post", f"/api/runs/{HUGE}/cancel", None),
        ("post", f"/api/runs/{HUGE}/rerun", None),
    ]:
        response = send(alice_raw, method, url, body)
        assert response.status_code in (404, 422), (method, url, response.status_code)
        assert is_error_body(response), (url, response.content[:300])
    for page in (f"/workflows/{HUGE}/", f"/runs/{HUGE}/"):
        assert alice_raw.get(page).status_code == 404, page
    assert alice_raw.post(f"/workflows/{HUGE}/delete/").status_code == 404


def test_run_inputs_no_database_or_json_reader_takes_are_refused(alice_raw, alice):
    workflow = save_workflow(alice, "name: echo\ninputs:\n  data: {type: object, default: {}}\n"
                                    "steps:\n  - {id: a, uses: wait, with: {seconds: 0, value: '${inputs.data}'}}\n")
    url = f"/api/workflows/{workflow.pk}/runs"
    deep = {}
    for _ in range(200):
        deep = {"d": deep}
    for raw in ['{"inputs": {"data": {"x": NaN}}}', '{"inputs": {"data": {"x": 1e400}}}',
                '{"inputs": {"data": {"x": -Infinity}}}', '{"inputs": {"data": {"x": 100000000000000000000}}}',
                '{"inputs": {"data": {"x": "a\\u0000b"}}}', json.dumps({"inputs": {"data": deep}})]:
        response = alice_raw.post(url, data=raw, content_type="application/json")
        assert response.status_code == 422 and is_error_body(response), (raw[:60], response.status_code)
        assert response.json()["errors"][0]["path"] == "body.inputs"
    assert not Run.objects.filter(workflow=workflow).exists()


def test_strings_with_a_nul_character_are_refused(alice_raw, workflow):
    for method, url, body in [("post", "/api/validate", {"yaml": "name: x\x00\nsteps: []\n"}),
                              ("post", "/api/workflows/", {"yaml": "name: y\nsteps: []\n", "message": "a\x00b"}),
                              ("get", "/api/runs/1/steps?prefix=a%00", None),
                              ("get", "/api/runs/?status=a%00", None)]:
        response = send(alice_raw, method, url, body)
        assert response.status_code == 422 and is_error_body(response), (url, response.status_code)


@pytest.fixture
async def async_alice(alice):
    client = AsyncClient(raise_request_exception=False)
    await client.aforce_login(alice)
    return client


async def wait_for(run_id: int, status: str) -> None:
    for _ in range(250):
        if (await Run.objects.aget(pk=run_id)).status == status:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} never became {status}")


@pytest.mark.django_db(transaction=True)
async def test_deleting_a_workflow_with_runs_cancels_the_running_one_and_removes_them_all(async_alice, alice):
    wf = await sync_to_async(save_workflow)(
        alice, "name: slow\ninputs:\n  s: {type: number, default: 0}\nsteps:\n  - {id: a, uses: wait, with: {seconds: '${inputs.s}'}}\n")
    start = f"/api/workflows/{wf.pk}/runs"
    done = (await async_alice.post(start, data="{}", content_type="application/json")).json()["id"]
    await finished(done)
    running = (await async_alice.post(start, data='{"inputs": {"s": 60}}', content_type="application/json")).json()["id"]
    await wait_for(running, "running")
    response = await async_alice.delete(f"/api/workflows/{wf.pk}")
    assert response.status_code == 204, response.content[:500]
    assert running not in execution.ACTIVE  # the runner stopped before its rows went
    assert not await Workflow.objects.filter(pk=wf.pk).aexists()
    for model in (Run, WorkflowVersion):
        assert not await model.objects.filter(workflow_id=wf.pk).aexists()
    for model in (StepRun, RunEvent):
        assert not await model.objects.filter(run_id__in=[done, running]).aexists()
    await asyncio.gather(*list(execution._TASKS), return_exceptions=True)


@pytest.mark.django_db(transaction=True)
async def test_the_delete_button_removes_a_workflow_with_runs(async_alice, alice):
    wf = await sync_to_async(save_workflow)(alice, "name: quick\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0}}\n")
    run_id = (await async_alice.post(f"/api/workflows/{wf.pk}/runs", data="{}",
                                     content_type="application/json")).json()["id"]
    await finished(run_id)
    response = await async_alice.post(f"/workflows/{wf.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert not await Run.objects.filter(pk=run_id).aexists()


@pytest.mark.django_db(transaction=True)
async def test_a_runs_items_come_a_page_at_a_time_with_their_count(async_alice, alice):
    wf = await sync_to_async(save_workflow)(
        alice, "name: many\ninputs:\n  list: {type: array, default: []}\nsteps:\n"
               "  - id: each\n    foreach: ${inputs.list}\n    concurrency: 50\n    steps:\n"
               "      - {id: echo, uses: wait, with: {seconds: 0, value: '${item}'}}\n")
    response = await async_alice.post(f"/api/workflows/{wf.pk}/runs", data=json.dumps({"inputs": {"list": list(range(250))}}),
                                      content_type="application/json")
    run = await finished(response.json()["id"], timeout=30)
    assert run.status == "succeeded"
    first = (await async_alice.get(f"/api/runs/{run.pk}?items=true&limit=100")).json()
    assert [s["path"] for s in first["steps"]] == ["each"]  # the rows outside items, always whole
    assert first["items"]["total"] == 250 and len(first["items"]["rows"]) == 100
    assert first["items"]["rows"][0]["path"].startswith("each[")
    last = (await async_alice.get(f"/api/runs/{run.pk}?items=true&offset=200&limit=100")).json()["items"]
    assert (last["offset"], len(last["rows"])) == (200, 50)
    paths = {r["path"] for r in first["items"]["rows"]} | {r["path"] for r in last["rows"]}
    assert len(paths) == 150  # no row twice
    default = (await async_alice.get(f"/api/runs/{run.pk}?items=true")).json()["items"]
    assert len(default["rows"]) == default["limit"] == 100
    too_many = await async_alice.get(f"/api/runs/{run.pk}?items=true&limit=5000")
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["path"] == "query.limit"
    assert (await async_alice.get(f"/api/runs/{run.pk}")).json()["items"] is None


# -- schemathesis against a real server ---------------------------------------------------------
@pytest.fixture(scope="module")
def api_server(tmp_path_factory, new_database):
    env = deployment_env(**new_database(tmp_path_factory.mktemp("fuzz")))
    server = Daphne(migrated(env, {"dana": "dana-password"}))
    assert server.started, "".join(server.output)
    yield server
    server.stop()


def logged_in_session(base: str, username: str, password: str):
    """A requests session logged in through the login form, sending the CSRF token."""
    import requests

    session = requests.Session()
    session.get(f"{base}/login/")
    token = session.cookies["csrftoken"]
    response = session.post(f"{base}/login/", data={"username": username, "password": password,
                                                    "csrfmiddlewaretoken": token},
                            headers={"Referer": f"{base}/login/"}, allow_redirects=False)
    assert response.status_code == 302, response.text[:300]
    session.headers.update({"X-CSRFToken": session.cookies["csrftoken"], "Referer": f"{base}/"})
    return session


def test_schemathesis_finds_no_server_error_and_every_answer_matches_the_schema(api_server):
    """About 400 generated requests (valid and invalid) over every operation, as a logged-in
    user who owns workflows and runs: no 5xx, and each answer has its declared body."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    base = api_server.url
    session = logged_in_session(base, "dana", "dana-password")
    cookies = dict(session.cookies)  # the session's, never generated ones (the schema declares the cookie)
    for name in ("first", "second"):  # dana owns workflows and runs, so generated ids find some
        made = session.post(f"{base}/api/workflows/", json={"yaml": SIMPLE.replace("name: simple", f"name: {name}")})
        assert made.status_code == 201, made.text
        assert session.post(f"{base}/api/workflows/{made.json()['id']}/runs", json={}).status_code == 201
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json")
    failures, statuses = [], collections.Counter()
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
        @settings(max_examples=200, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=schema.as_strategy(generation_mode=mode))
        def call(case):
            case.cookies = {}
            response = case.call(base_url=base, session=session, cookies=cookies, timeout=30)
            statuses[response.status_code // 100] += 1
            try:
                case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                         response_schema_conformance])
            except Exception as exc:  # noqa: BLE001 - collect every kind of failure, report them together
                failures.append(f"{case.method} {case.formatted_path} {case.query} -> "
                                f"{response.status_code} {response.text[:200]}: {str(exc)[:300]}")

        call()
    assert not failures, "\n".join(failures[:10])
    assert statuses[2] >= 50 and statuses[4] >= 100, statuses  # logged in: real answers, and refusals
    assert "Traceback" not in "".join(api_server.output)
