"""Runs outlive their process (embedded mode): a real daphne killed or gone, and restarted.

These tests keep one server alive at a time: every server on the database runs the recovery
loop, and with the in-memory channel layer only the process running a run streams it.
"""

import asyncio
import json
import os

import pytest
import websockets

from tests.builder.test_server import Server, login, manage, ws_headers
from tests.servers import until_ended


@pytest.fixture(scope="module")
def env(tmp_path_factory, new_database):
    env = {**os.environ, **new_database(tmp_path_factory.mktemp("recovery")), "DJANGO_DEBUG": "0"}
    manage(env, "migrate", "-v0")
    manage(env, "loaddemo", "--username", "ann", "--password", "ann-password")
    return env


def _dead_run(env) -> int:
    """A run left running by a process of this host that is gone (its lease not yet expired)."""
    code = ("import datetime as dt; from django.utils import timezone; "
            "from builder.models import Run, Workflow; "
            "w = Workflow.objects.get(owner__username='ann', name='dag'); "
            "r = Run.objects.create(workflow=w, version=w.current_version(), started_by=w.owner, status='running', "
            "worker='%s:999999', lease_owner='%s:999999:deadbeef', "
            "lease_expires=timezone.now() + dt.timedelta(minutes=5)); print(r.pk)"
            % (os.uname().nodename, os.uname().nodename))
    return int(manage(env, "shell", "-v", "0", "-c", code).stdout.strip().splitlines()[-1])


def test_with_recovery_interrupt_a_dead_process_run_is_marked_interrupted_and_resumable(env):
    run_id = _dead_run(env)
    restarted = Server({**env, "WORKFLOW_RECOVERY": "interrupt"})
    try:
        async def check():
            client = await login(restarted.base, "ann", "ann-password")
            run = await until_ended(client, run_id)
            assert run["status"] == "interrupted" and "resume" in run["error"]
            headers = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": restarted.base}
            resumed = await client.post(f"/api/runs/{run_id}/resume", json={}, headers=headers)
            assert resumed.status_code == 201
            state = await until_ended(client, resumed.json()["id"])
            assert state["status"] == "succeeded" and state["resumed_from"] == run_id
            await client.aclose()

        asyncio.run(check())
    finally:
        restarted.stop()


def test_a_run_whose_process_is_gone_is_taken_over_by_itself(env):
    """Its lease names a process of this host that no longer runs: taken over at once, not in 30 s."""
    run_id = _dead_run(env)
    restarted = Server(env)
    try:
        async def check():
            client = await login(restarted.base, "ann", "ann-password")
            state = await until_ended(client, run_id)
            assert state["status"] == "succeeded", state
            await client.aclose()

        asyncio.run(check())
    finally:
        restarted.stop()


LONG_RUN = """name: long-run
steps:
  - {id: first, uses: wait, with: {seconds: 0.05, value: 1}}
  - id: each
    foreach: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    concurrency: 2
    steps:
      - {id: w, uses: wait, with: {seconds: 0.4, value: "${item}"}}
  - {id: last, uses: wait, with: {seconds: 0.05, value: "${len(each)}"}}
"""


def test_a_server_killed_mid_run_goes_on_with_the_run_after_a_restart_and_never_reruns_a_step(env):
    """kill -9 in the middle of a foreach; the restarted server takes the run over by itself:
    finished steps and items are not run again, the items that were running run as attempt 2,
    and a monitor connected to the new server follows the run to its end."""
    first = Server(env)

    async def start_and_kill():
        client = await login(first.base, "ann", "ann-password")
        headers = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": first.base}
        made = await client.post("/api/workflows/", json={"yaml": LONG_RUN}, headers=headers)
        run = await client.post(f"/api/workflows/{made.json()['id']}/runs", json={"inputs": {}}, headers=headers)
        run_id = run.json()["id"]
        for _ in range(200):
            items = (await client.get(f"/api/runs/{run_id}/steps", params={"prefix": "each["})).json()
            rows = items["rows"] if isinstance(items, dict) else items
            if sum(r["status"] == "succeeded" for r in rows) >= 3:
                break
            await asyncio.sleep(0.02)
        first.proc.kill()  # SIGKILL: nothing is cleaned up
        first.proc.wait(5)
        await client.aclose()
        return run_id

    try:
        run_id = asyncio.run(start_and_kill())
    finally:
        first.stop()
    before = _rows(env, run_id)
    done_before = {path for path, attempt, status in before if status == "succeeded"}
    assert "first" in done_before and len([p for p in done_before if p.startswith("each[")]) >= 3

    second = Server(env)
    try:
        async def follow():
            client = await login(second.base, "ann", "ann-password")
            async with websockets.connect(f"ws://127.0.0.1:{second.port}/ws/runs/{run_id}/",
                                          additional_headers=ws_headers(client, second.base)) as ws:
                seen = []
                while not any(e.get("type") == "run.finished" for e in seen):
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    seen += frame.get("events", []) if frame["type"] == "events" else []
                    if frame["type"] == "snapshot" and frame["run"]["status"] not in ("queued", "running"):
                        break  # it ended before we connected: the snapshot says how
            state = (await client.get(f"/api/runs/{run_id}")).json()
            await client.aclose()
            return state, seen

        state, seen = asyncio.run(follow())
    finally:
        second.stop()
    assert state["status"] == "succeeded", state
    assert state["outputs"]["last"] == 10
    after = _rows(env, run_id)
    for path in done_before:  # finished before the kill: one succeeded row, never started again
        assert [a for p, a, s in after if p == path and s == "succeeded"] == [1], path
        assert not any(e.get("type") == "step.started" and e.get("path") == path for e in seen), path
    interrupted = [(p, a) for p, a, s in after if s == "failed"]
    assert interrupted, "the items running at the kill are recorded as interrupted attempts"
    for path, attempt in interrupted:
        assert attempt == 1 and (path, 2, "succeeded") in after, (path, after)
    assert {p for p, a, s in after if s == "succeeded"} >= {f"each[{i}].w" for i in range(10)} | {"last"}


def _rows(env, run_id):
    code = ("from builder.models import StepRun; "
            f"print(list(StepRun.objects.filter(run_id={run_id}).values_list('path', 'attempt', 'status')))")
    import ast

    return ast.literal_eval(manage(env, "shell", "-v", "0", "-c", code).stdout.strip().splitlines()[-1])
