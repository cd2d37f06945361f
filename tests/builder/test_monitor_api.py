"""builder/monitor_api.py with the real engine: a sub-workflow's steps are recorded under the
step's path and its YAML is found; a foreach's items page by index; a resume's reused steps;
and hostile callers (another user, bad paths, numbers out of range) get 404s and 422s."""

import pytest
from asgiref.sync import sync_to_async

from builder.models import Run, StepRun
from builder.services import save_workflow
from tests.builder.clients import logged_in, post
from tests.builder.test_approvals import reaches, start

pytestmark = pytest.mark.django_db(transaction=True)

CHILD = """name: child
steps:
  - {id: fetch, uses: wait, with: {seconds: 0, value: 1}}
  - {id: shape, uses: wait, with: {seconds: 0, value: 2}}
"""
PARENT = """name: parent
steps:
  - {id: before, uses: wait, with: {seconds: 0, value: 0}}
  - {id: report, uses: workflow, with: {name: child}}
"""
ITEMS = """name: items
steps:
  - id: each
    foreach: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    concurrency: 4
    steps:
      - {id: a, uses: wait, with: {seconds: "${item % 3 * 0.02}", value: "${item}"}}
      - {id: b, uses: wait, with: {seconds: 0, value: "${item}"}}
"""


async def test_a_sub_workflows_steps_are_recorded_under_its_path_and_its_yaml_is_served(alice, bob):
    client = await logged_in(alice)
    await sync_to_async(save_workflow)(alice, CHILD)
    child_v2 = CHILD.replace("value: 2", "value: 3")
    run_id = await start(client, alice, PARENT)
    assert (await reaches(run_id, "succeeded", "failed")).status == "succeeded"
    paths = {p async for p in StepRun.objects.filter(run_id=run_id).values_list("path", flat=True)}
    assert {"report.fetch", "report.shape"} <= paths
    await sync_to_async(save_workflow)(alice, child_v2, "later", await _workflow("child"))  # after the run
    answer = await client.get(f"/api/runs/{run_id}/subrun?path=report")
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["name"] == "child" and data["version"] == 1 and "value: 2" in data["yaml"]
    assert data["status"] == "succeeded"
    missing = await client.get(f"/api/runs/{run_id}/subrun?path=before")  # not a workflow step
    assert missing.status_code == 404 and "no workflow step 'before'" in missing.json()["detail"]
    bobs = await logged_in(bob)
    assert (await bobs.get(f"/api/runs/{run_id}/subrun?path=report")).status_code == 404
    for bad in ("", "x" * 501, "a%00b"):
        assert (await client.get(f"/api/runs/{run_id}/subrun?path={bad}")).status_code == 422, bad
    assert (await client.get("/api/runs/99999999999999999999/subrun?path=report")).status_code == 422
    assert (await client.get("/api/runs/999999/subrun?path=report")).status_code == 404
    assert (await post(client, f"/api/runs/{run_id}/subrun?path=report")).status_code == 405


async def _workflow(name):
    from builder.models import Workflow

    return await Workflow.objects.aget(name=name)


async def test_items_come_by_index_not_by_completion(alice, bob):
    client = await logged_in(alice)
    run_id = await start(client, alice, ITEMS)
    assert (await reaches(run_id, "succeeded")).status == "succeeded"
    page = (await client.get(f"/api/runs/{run_id}/items?path=each&offset=0&limit=5")).json()
    assert page["total"] == 12
    assert [r["item"] for r in page["rows"]] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert [r["path"] for r in page["rows"][:2]] == ["each[0].a", "each[0].b"]
    second = (await client.get(f"/api/runs/{run_id}/items?path=each&offset=10&limit=5")).json()
    assert [r["item"] for r in second["rows"]] == [10, 10, 11, 11]
    named = (await client.get(f"/api/runs/{run_id}/items?path=each&offset=0&limit=5&steps=a,b")).json()
    assert named["rows"] == page["rows"]  # found by exact path: the same rows
    only_b = (await client.get(f"/api/runs/{run_id}/items?path=each&limit=3&steps=b")).json()
    assert [r["path"] for r in only_b["rows"]] == ["each[0].b", "each[1].b", "each[2].b"]
    assert (await client.get(f"/api/runs/{run_id}/items?path=nothing")).json() == {
        "path": "nothing", "total": None, "offset": 0, "limit": 50, "rows": []}
    for query in ("path=each&limit=0", "path=each&limit=201", "path=each&offset=-1", "path=each&offset=x", "path=",
                  "path=each&steps=a.b", "path=each&steps=a,,b", "path=each&steps=a[1]", "path=each&steps=" + "a" * 4001,
                  "path=each&steps=%C2%80", "path=each&steps=a,1b"):  # ids are ASCII names, as in the format
        assert (await client.get(f"/api/runs/{run_id}/items?{query}")).status_code == 422, query
    assert (await (await logged_in(bob)).get(f"/api/runs/{run_id}/items?path=each")).status_code == 404


async def test_a_resumed_run_lists_the_steps_it_reused(alice, bob):
    client = await logged_in(alice)
    yaml = "name: resumable\nsteps:\n  - {id: first, uses: wait, with: {seconds: 0, value: 1}}\n" \
           "  - {id: second, uses: fail, with: {message: nope}}\n"
    run_id = await start(client, alice, yaml)
    assert (await reaches(run_id, "failed")).status == "failed"
    resumed = await post(client, f"/api/runs/{run_id}/resume")
    assert resumed.status_code == 201, resumed.content
    new_id = resumed.json()["id"]
    await reaches(new_id, "failed")
    data = (await client.get(f"/api/runs/{new_id}/reused")).json()
    assert data == {"resumed_from": run_id, "paths": ["first"], "items": 0}
    assert (await client.get(f"/api/runs/{run_id}/reused")).json() == {"resumed_from": None, "paths": [], "items": 0}
    assert (await (await logged_in(bob)).get(f"/api/runs/{new_id}/reused")).status_code == 404
    assert (await Run.objects.aget(pk=new_id)).resumed_from_id == run_id
