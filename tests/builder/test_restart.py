"""Restarting a run from a step (builder/restart.py, POST /api/runs/{id}/restart): what is
reused — the steps before it in plan and needs order — and what runs again, for real runs."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from builder.models import Run, StepRun
from builder.services import save_workflow
from tests.builder.helpers import finished

pytestmark = pytest.mark.django_db(transaction=True)

FLOW = """name: pipeline
steps:
  - {id: fetch, uses: wait, with: {seconds: 0, value: 1}}
  - id: per_file
    foreach: [10, 20, 30]
    steps:
      - {id: get, uses: wait, with: {seconds: 0, value: "${item}"}}
      - {id: parse, uses: wait, with: {seconds: 0, value: "${get + 1}"}}
  - id: fan
    parallel:
      - {id: left, uses: wait, with: {seconds: 0, value: l}}
      - {id: right, uses: wait, with: {seconds: 0, value: r}}
  - id: graph
    steps:
      - {id: a, uses: wait, with: {seconds: 0, value: a}}
      - {id: b, uses: wait, with: {seconds: 0, value: b}, needs: []}
      - {id: c, uses: wait, with: {seconds: 0, value: c}, needs: [a]}
      - {id: d, uses: wait, with: {seconds: 0, value: "${c}"}, needs: [c]}
  - {id: report, uses: wait, with: {seconds: 0, value: done}}
"""


@pytest.fixture
async def alice_async(alice):
    client = AsyncClient()
    await client.aforce_login(alice)
    return client


async def post(client, url, body):
    return await client.post(url, data=json.dumps(body), content_type="application/json")


async def a_finished_run(client, alice, text=FLOW):
    workflow = await sync_to_async(save_workflow)(alice, text)
    started = await post(client, f"/api/workflows/{workflow.pk}/runs", {})
    return await finished(started.json()["id"])


async def restarted(client, old, from_step):
    answer = await post(client, f"/api/runs/{old.pk}/restart", {"from_step": from_step})
    assert answer.status_code == 201, answer.json()
    new = await finished(answer.json()["id"])
    assert new.status == "succeeded", new.error
    rows = [(r.path, r.duration_ms == 0.0 and r.attempt == 0) async for r in StepRun.objects.filter(run=new)]
    events = [e async for e in new.events.filter(type="step.succeeded").values_list("data", flat=True)]
    reused = {e["path"] for e in events if e.get("reused")}
    ran = {e["path"] for e in events if not e.get("reused")}
    return answer.json(), reused, ran, rows


async def test_a_step_inside_a_needs_graph_reuses_what_comes_before_it_and_what_it_needs(alice_async, alice):
    old = await a_finished_run(alice_async, alice)
    assert old.status == "succeeded"
    answer, reused, ran, _ = await restarted(alice_async, old, "graph.d")
    assert answer["resume"]["from_step"] == "graph.d" and answer["resumed_from"] == old.pk
    assert answer["version"] == 1 and answer["origin"] == "resume"
    # before graph at the top: fetch, per_file (whole), fan (whole); inside graph: c and a (d needs c needs a)
    assert {"fetch", "per_file", "fan", "fan.left", "fan.right", "graph.a", "graph.c"} <= reused
    assert "graph.b" not in reused and {"graph.b", "graph.d", "graph", "report"} <= ran
    assert answer["resume"]["reused"][0] == "fetch" and "graph.b" in answer["resume"]["dropped"]


async def test_an_item_of_a_foreach_reuses_only_its_own_steps_before_the_chosen_one(alice_async, alice):
    old = await a_finished_run(alice_async, alice)
    _, reused, ran, _ = await restarted(alice_async, old, "per_file[1].parse")
    assert reused == {"fetch", "per_file[1].get"}
    assert {"per_file[0].get", "per_file[2].get", "per_file[1].parse", "per_file", "fan.left", "report"} <= ran


async def test_a_foreach_step_without_an_index_is_restarted_in_every_item(alice_async, alice):
    old = await a_finished_run(alice_async, alice)
    _, reused, ran, _ = await restarted(alice_async, old, "per_file.parse")
    assert reused == {"fetch", "per_file[0].get", "per_file[1].get", "per_file[2].get"}
    assert {f"per_file[{i}].parse" for i in range(3)} <= ran


async def test_a_parallel_branch_runs_its_sibling_again(alice_async, alice):
    old = await a_finished_run(alice_async, alice)
    _, reused, ran, _ = await restarted(alice_async, old, "fan.right")
    assert reused == {"fetch", "per_file"}
    assert {"fan.left", "fan.right", "graph.a", "report"} <= ran


async def test_the_first_step_reuses_nothing_and_a_failed_run_restarts_from_a_step_before_its_failure(alice_async,
                                                                                                     alice):
    failing = FLOW.replace("{id: report, uses: wait, with: {seconds: 0, value: done}}",
                           "{id: report, uses: fail, with: {message: broken}}")
    old = await a_finished_run(alice_async, alice, failing)
    assert old.status == "failed"
    answer = await post(alice_async, f"/api/runs/{old.pk}/restart", {"from_step": "fetch"})
    assert answer.status_code == 201 and answer.json()["resume"]["reused"] == []
    new = await finished(answer.json()["id"])
    assert new.status == "failed"
    assert not await new.events.filter(type="step.succeeded", data__reused=True).aexists()
    answer = await post(alice_async, f"/api/runs/{old.pk}/restart", {"from_step": "graph"})
    new = await finished(answer.json()["id"])
    reused = {e["path"] async for e in new.events.filter(type="step.succeeded").values_list("data", flat=True)
              if e.get("reused")}
    assert reused == {"fetch", "per_file", "fan", "fan.left", "fan.right"}


async def test_a_switch_case_and_a_repeat_pass(alice_async, alice):
    text = """name: shapes
steps:
  - {id: pick, uses: wait, with: {seconds: 0, value: b}}
  - id: route
    switch: ${pick}
    cases:
      b:
        - {id: one, uses: wait, with: {seconds: 0, value: 1}}
        - {id: two, uses: wait, with: {seconds: 0, value: 2}}
  - id: poll
    repeat: {until: "${loop.index == 2}", max: 5}
    steps:
      - {id: check, uses: wait, with: {seconds: 0, value: c}}
      - {id: note, uses: wait, with: {seconds: 0, value: n}}
"""
    old = await a_finished_run(alice_async, alice, text)
    _, reused, ran, _ = await restarted(alice_async, old, "route.two")
    assert reused == {"pick", "route.one"} and {"route", "route.two", "poll[0].check"} <= ran
    _, reused, ran, _ = await restarted(alice_async, old, "poll[1].note")
    # a switch reused whole is one step (the engine reuses its output, not its case's steps)
    assert reused == {"pick", "route", "poll[0].check", "poll[0].note", "poll[1].check"}
    assert {"poll[1].note", "poll[2].check"} <= ran and await Run.objects.acount() == 3
