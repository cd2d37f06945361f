"""Hostile calls to /api/workflows/{id}/try-step and /last-run: another user's workflow or run,
no CSRF token, anonymous, bad or hostile YAML, steps that cannot be tried alone. Always a 4xx
that says why (with the place), never a 500, and nothing recorded."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from builder.models import Run
from builder.services import save_workflow
from tests.builder.test_step_try import FLOW, post, recorded

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def client(alice):
    c = AsyncClient()
    await c.aforce_login(alice)
    return c


@pytest.fixture
async def bob_client(bob):
    c = AsyncClient()
    await c.aforce_login(bob)
    return c


async def test_another_users_workflow_and_runs_are_404(client, bob_client, alice, bob):
    workflow, source = await recorded(client, alice)
    for url in (f"/api/workflows/{workflow.pk}/try-step",):
        answer = await post(bob_client, url, {"yaml": FLOW, "step": "double"})
        assert answer.status_code == 404
    assert (await bob_client.get(f"/api/workflows/{workflow.pk}/last-run")).status_code == 404
    # bob's own workflow, alice's run id: not a run of that workflow
    mine = await sync_to_async(save_workflow)(bob, FLOW)
    answer = await post(bob_client, f"/api/workflows/{mine.pk}/try-step", {"yaml": FLOW, "step": "double", "run": source.pk})
    assert answer.status_code == 404
    assert await Run.objects.filter(mode="try").acount() == 0


async def test_csrf_and_anonymous_are_refused(alice):
    workflow, _ = await recorded(await _logged(alice), alice)
    strict = AsyncClient(enforce_csrf_checks=True)
    await strict.aforce_login(alice)
    answer = await post(strict, f"/api/workflows/{workflow.pk}/try-step", {"yaml": FLOW, "step": "double"})
    assert answer.status_code == 403
    anonymous = await post(AsyncClient(), f"/api/workflows/{workflow.pk}/try-step", {"yaml": FLOW, "step": "double"})
    assert anonymous.status_code == 401
    assert await Run.objects.filter(mode="try").acount() == 0


async def _logged(user):
    c = AsyncClient()
    await c.aforce_login(user)
    return c


BOMB = "version: 1\nname: flow\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi")) + "steps: []\n"


@pytest.mark.parametrize("text, status, words, place", [
    ("version: 1\nname: flow\nsteps:\n  - {id: double, uses: waitt}\n", 400, "the text does not load", "steps[0].uses"),
    ("version: 1\nname: flow\nsteps: [\n", 400, "the text does not load", ""),
    ("- just\n- a list\n", 400, "the text does not load", ""),
    (BOMB, 400, "the text does not load", ""),
    ("version: 1\nname: flow\nsteps:\n" + "  " * 1 + "- id: a\n    steps:\n" + "".join(
        "  " * (i + 2) + f"- id: s{i}\n" + "  " * (i + 3) + "steps:\n" for i in range(120)), 400, "the text does not load", ""),
])
async def test_bad_and_hostile_yaml_is_a_400_with_its_place(client, alice, text, status, words, place):
    workflow, _ = await recorded(client, alice)
    answer = await post(client, f"/api/workflows/{workflow.pk}/try-step", {"yaml": text, "step": "double"})
    assert answer.status_code == status, answer.content[:300]
    body = answer.json()
    assert words in body["detail"] and body["errors"], body
    assert all(e["line"] >= 1 for e in body["errors"]), body
    if place:
        assert any(e["path"] == place for e in body["errors"]), body
    assert await Run.objects.filter(mode="try").acount() == 0


async def test_too_big_and_malformed_requests_say_why(client, alice):
    workflow, _ = await recorded(client, alice)
    url = f"/api/workflows/{workflow.pk}/try-step"
    big = await post(client, url, {"yaml": "# " + "x" * (1 << 20) + "\n" + FLOW, "step": "double"})
    assert big.status_code == 413
    for body in ({"yaml": FLOW, "step": "a b"}, {"yaml": FLOW, "step": "x\u0000"}, {"yaml": FLOW},
                 {"yaml": FLOW, "step": "double", "run": 0}, {"yaml": FLOW, "step": "s" * 501}):
        answer = await post(client, url, body)
        assert answer.status_code == 422 and answer.json()["errors"][0]["path"].startswith("body."), body
    raw = await client.post(url, data="{not json", content_type="application/json")
    assert raw.status_code in (400, 422)


@pytest.mark.parametrize("text, step, words", [
    ("version: 1\nname: flow\nsteps:\n  - id: each\n    foreach: [1, 2]\n    steps:\n"
     "      - {id: inner, uses: wait, with: {seconds: 0}}\n", "each.inner", "inside foreach each, which runs its steps once per item"),
    ("version: 1\nname: flow\nsteps:\n  - id: route\n    switch: a\n    cases:\n      a: [{id: one, uses: wait, with: {seconds: 0}}]\n",
     "route.one", "inside switch route"),
])
async def test_a_step_inside_a_per_item_block_is_refused_with_the_reason(client, alice, text, step, words):
    workflow, _ = await recorded(client, alice)
    answer = await post(client, f"/api/workflows/{workflow.pk}/try-step", {"yaml": text, "step": step})
    assert answer.status_code == 400 and words in answer.json()["detail"], answer.json()


async def test_no_run_yet_and_inputs_that_no_longer_fit_say_so(client, alice):
    fresh = await sync_to_async(save_workflow)(alice, FLOW.replace("name: flow", "name: fresh"))
    answer = await post(client, f"/api/workflows/{fresh.pk}/try-step", {"yaml": FLOW, "step": "double"})
    assert answer.status_code == 409 and "no run to take outputs from" in answer.json()["detail"]
    workflow, _ = await recorded(client, alice)
    needs_more = FLOW.replace("inputs: {n: {type: integer, default: 2}}", "inputs: {n: {type: integer}, m: {type: string}}")
    answer = await post(client, f"/api/workflows/{workflow.pk}/try-step", {"yaml": needs_more, "step": "double"})
    assert answer.status_code == 400 and answer.json()["errors"][0]["path"] == "inputs", answer.json()
    assert "m" in answer.json()["detail"]
    assert await Run.objects.filter(mode="try").acount() == 0
