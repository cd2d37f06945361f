"""Per-workflow concurrency in the embedded mode (builder/concurrency.py, a test per clause):
runs started through the API in this process, and a real server killed in the middle of the
active run. Overlap is measured from the runs' own step rows (started, finished)."""

import asyncio
import os
import signal
import threading

import pytest
from asgiref.sync import sync_to_async

from builder import concurrency, execution, leases
from builder.models import Approval, Run, StepRun
from builder.services import create_run, save_workflow
from engine.stats import most_at_once
from tests.builder.clients import logged_in, post, web_headers, web_login

pytestmark = pytest.mark.django_db(transaction=True)

LIMITED = """name: limited
concurrency: {limit: LIMIT, when_busy: WHEN}
inputs:
  seconds: {type: number, default: 0.3}
steps:
  - {id: work, uses: wait, with: {seconds: "${inputs.seconds}", value: 1}}
finally:
  - {id: cleanup, uses: wait, with: {seconds: 0, value: done}}
"""


def limited(limit: int = 1, when: str = "queue") -> str:
    return LIMITED.replace("LIMIT", str(limit)).replace("WHEN", when)


async def starts(client, workflow_id: int, count: int, seconds: float = 0.3) -> list[dict]:
    answers = []
    for _ in range(count):
        answer = await post(client, f"/api/workflows/{workflow_id}/runs", {"inputs": {"seconds": seconds}})
        assert answer.status_code == 201, answer.content
        answers.append(answer.json())
    return answers


async def all_ended(run_ids, timeout: float = 20) -> dict[int, Run]:
    for _ in range(int(timeout / 0.02)):
        runs = {r.pk: r async for r in Run.objects.filter(pk__in=run_ids)}
        if all(r.finished for r in runs.values()):
            await asyncio.gather(*list(execution._TASKS), return_exceptions=True)
            return {r.pk: r async for r in Run.objects.filter(pk__in=run_ids)}
        await asyncio.sleep(0.02)
    raise AssertionError(f"not all ended: { {r.pk: r.status for r in runs.values()} }")


async def work_intervals(run_ids) -> list[tuple]:
    rows = StepRun.objects.filter(run_id__in=run_ids, path="work").order_by("started_at")
    return [(r.started_at, r.finished_at, r.run_id) async for r in rows]


async def test_3_limit_1_queue_three_quick_starts_run_one_after_another_first_come_first_served(alice):
    workflow = await sync_to_async(save_workflow)(alice, limited(1))
    answers = await starts(await logged_in(alice), workflow.pk, 3)
    assert [a["status"] for a in answers] == ["queued"] * 3
    ids = [a["id"] for a in answers]
    runs = await all_ended(ids)
    assert [runs[i].status for i in ids] == ["succeeded"] * 3
    intervals = await work_intervals(ids)
    assert most_at_once([(s, e) for s, e, _ in intervals]) == 1
    assert [run_id for _, _, run_id in intervals] == ids, "first come, first served"


async def test_3_limit_2_never_runs_three_at_once(alice):
    workflow = await sync_to_async(save_workflow)(alice, limited(2))
    ids = [a["id"] for a in await starts(await logged_in(alice), workflow.pk, 5)]
    runs = await all_ended(ids)
    assert {r.status for r in runs.values()} == {"succeeded"}
    assert most_at_once([(s, e) for s, e, _ in await work_intervals(ids)]) == 2


async def test_2_skip_records_the_new_run_skipped_with_the_reason_and_it_never_starts(alice):
    workflow = await sync_to_async(save_workflow)(alice, limited(1, "skip"))
    client = await logged_in(alice)
    first, second = await starts(client, workflow.pk, 2)
    assert first["status"] == "queued" and second["status"] == "skipped"
    assert second["error"] == "skipped: 1 run of this workflow is active (concurrency limit 1, when_busy: skip)"
    runs = await all_ended([first["id"], second["id"]])
    assert runs[first["id"]].status == "succeeded" and runs[second["id"]].status == "skipped"
    assert not await StepRun.objects.filter(run_id=second["id"]).aexists()
    [third] = await starts(client, workflow.pk, 1)
    assert third["status"] == "queued", "nothing active any more"
    assert (await all_ended([third["id"]]))[third["id"]].status == "succeeded"


async def test_2_cancel_running_cancels_the_oldest_its_finally_runs_and_the_new_one_starts_after(alice):
    workflow = await sync_to_async(save_workflow)(alice, limited(1, "cancel_running"))
    client = await logged_in(alice)
    [old] = await starts(client, workflow.pk, 1, seconds=30)
    for _ in range(250):
        if await StepRun.objects.filter(run_id=old["id"], path="work").aexists():
            break
        await asyncio.sleep(0.02)
    [new] = await starts(client, workflow.pk, 1, seconds=0.1)
    runs = await all_ended([old["id"], new["id"]])
    assert runs[old["id"]].status == "cancelled" and runs[new["id"]].status == "succeeded"
    cleanup = await StepRun.objects.aget(run_id=old["id"], path="cleanup")
    assert cleanup.status == "succeeded", "the cancelled run's finally ran"
    old_end = runs[old["id"]].finished_at
    new_work = await StepRun.objects.aget(run_id=new["id"], path="work")
    assert new_work.started_at >= old_end, "the new one started once the old one had stopped"


async def test_1_a_waiting_run_keeps_its_slot_until_it_ends(alice):
    text = """name: gated
concurrency: {limit: 1}
inputs: {seconds: {type: number, default: 0}}
steps:
  - {id: ask, uses: approval, with: {message: "Go?"}}
  - {id: work, uses: wait, with: {seconds: 0.05, value: 1}}
"""
    workflow = await sync_to_async(save_workflow)(alice, text)
    client = await logged_in(alice)
    first, second = await starts(client, workflow.pk, 2)
    for _ in range(500):
        if (await Run.objects.aget(pk=first["id"])).status == "waiting":
            break
        await asyncio.sleep(0.02)
    await execution.recover()  # a recovery pass does not start it either
    await asyncio.sleep(0.2)
    assert (await Run.objects.aget(pk=second["id"])).status == "queued"
    approval = await Approval.objects.aget(run_id=first["id"])
    assert (await post(client, f"/api/approvals/{approval.pk}/decide", {"approve": True})).status_code == 200
    for _ in range(500):
        if (await Run.objects.aget(pk=second["id"])).status == "waiting":
            break
        await asyncio.sleep(0.02)
    assert (await Run.objects.aget(pk=first["id"])).status == "succeeded"
    second_run = await Run.objects.aget(pk=second["id"])
    assert second_run.status == "waiting", "started once the first ended, and waits in its turn"
    cancelled = await post(client, f"/api/runs/{second['id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"


async def test_4_cancelling_a_waiting_run_starts_the_next_one_at_once(alice):
    text = """name: gated
concurrency: {limit: 1}
inputs: {seconds: {type: number, default: 0}}
steps:
  - {id: ask, uses: approval, with: {message: "Go?"}}
"""
    workflow = await sync_to_async(save_workflow)(alice, text)
    client = await logged_in(alice)
    [first] = await starts(client, workflow.pk, 1)
    for _ in range(500):
        if (await Run.objects.aget(pk=first["id"])).status == "waiting":
            break
        await asyncio.sleep(0.02)
    # a version of the same workflow without the approval: queued behind the waiting run
    await sync_to_async(save_workflow)(alice, limited(1).replace("name: limited", "name: gated"), "", workflow)
    [second] = await starts(client, workflow.pk, 1, seconds=0.05)
    await asyncio.sleep(0.2)
    assert (await Run.objects.aget(pk=second["id"])).status == "queued"
    assert (await post(client, f"/api/runs/{first['id']}/cancel")).json()["status"] == "cancelled"
    runs = await all_ended([second["id"]], timeout=5)  # well before a recovery pass would
    assert runs[second["id"]].status == "succeeded"


def test_3_two_processes_claiming_the_last_slot_at_once_only_one_gets_it(alice):
    """Two threads, as two processes, claim the two queued runs of a limit-1 workflow at once
    (PostgreSQL: the workflow row's lock; SQLite: one IMMEDIATE transaction at a time)."""
    from django.db import connection

    workflow = save_workflow(alice, limited(1))
    runs = [create_run(workflow, alice, {}) for _ in range(2)]
    barrier = threading.Barrier(2)
    claimed = []

    def claim(run):
        barrier.wait()
        try:
            claimed.append(leases.claim(run.pk, f"w{run.pk}") is not None)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(run,)) for run in reversed(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == [False, True]
    holder = Run.objects.exclude(lease_owner="").get(workflow=workflow)
    assert holder.pk in (runs[0].pk, runs[1].pk)


def test_3_an_older_queued_run_goes_first_and_a_held_run_is_left_to_the_queue_not_to_recovery(alice):
    import datetime as dt

    from django.utils import timezone

    workflow = save_workflow(alice, limited(1))
    older, newer = (create_run(workflow, alice, {}) for _ in range(2))
    assert leases.claim(newer.pk, "w") is None, "an older run waits for the slot"
    assert concurrency.startable(workflow.pk) == [older.pk]
    Run.objects.filter(pk__in=[older.pk, newer.pk]).update(created_at=timezone.now() - dt.timedelta(hours=1))
    assert leases.lapsed() == [], "held runs are not recovery's: the queue starts them"
    assert leases.claim(older.pk, "w") is not None
    assert concurrency.startable(workflow.pk) == []
    Run.objects.filter(pk=older.pk).update(status="succeeded", lease_owner="")
    assert concurrency.startable(workflow.pk) == [newer.pk]


def test_1_the_clis_runs_neither_wait_nor_count(alice):
    workflow = save_workflow(alice, limited(1, "skip"))
    cli = create_run(workflow, alice, {}, mode="cli")
    Run.objects.filter(pk=cli.pk).update(status="running")
    assert create_run(workflow, alice, {}).status == "queued"
    assert create_run(workflow, alice, {}, mode="cli").status == "queued"


# -- a real server killed while the active run runs ----------------------------------------------
@pytest.fixture(scope="module")
def server_env(tmp_path_factory, new_database):
    from tests.servers import migrated

    env = {**os.environ, **new_database(tmp_path_factory.mktemp("concurrency")), "DJANGO_DEBUG": "0",
           "WORKFLOW_LEASE_SECONDS": "3"}
    return migrated(env, {"ann": "ann-password"})


@pytest.mark.parametrize("recovery", ["resume", "interrupt"])
def test_4_a_crash_of_the_process_running_the_active_run_does_not_block_the_queue(server_env, recovery):
    """kill -9 of the server while the first of two runs (limit 1) runs: a new server takes the
    first over (or marks it interrupted) and the second starts after it, never beside it."""
    from tests.servers import Daphne, until_ended

    name = f"crash-{recovery}"
    env = {**server_env, "WORKFLOW_RECOVERY": recovery}
    first_server = Daphne(env).require_started()
    try:
        async def begin():
            client = await web_login(first_server.base, "ann", "ann-password")
            made = await client.post("/api/workflows/", json={"yaml": limited(1).replace("limited", name)},
                                     headers=web_headers(client, first_server.base))
            ids = []
            for seconds in (2, 0.2):
                run = await client.post(f"/api/workflows/{made.json()['id']}/runs", json={"inputs": {"seconds": seconds}},
                                        headers=web_headers(client, first_server.base))
                ids.append(run.json()["id"])
            for _ in range(200):
                state = (await client.get(f"/api/runs/{ids[0]}?items=false")).json()
                if any(s["path"] == "work" for s in state["steps"]):
                    break
                await asyncio.sleep(0.05)
            assert (await client.get(f"/api/runs/{ids[1]}")).json()["status"] == "queued"
            await client.aclose()
            return ids
        ids = asyncio.run(begin())
    finally:
        first_server.proc.send_signal(signal.SIGKILL)
        first_server.proc.wait(10)
    second_server = Daphne(env).require_started()
    try:
        async def finish():
            client = await web_login(second_server.base, "ann", "ann-password")
            first = await until_ended(client, ids[0], seconds=30)
            second = await until_ended(client, ids[1], seconds=30)
            expected = "succeeded" if recovery == "resume" else "interrupted"
            assert (first["status"], second["status"]) == (expected, "succeeded"), (first, second)
            steps = {}
            for run_id in ids:
                for step in (await client.get(f"/api/runs/{run_id}")).json()["steps"]:
                    if step["path"] == "work" and step["finished_at"]:
                        steps[run_id] = (step["started_at"], step["finished_at"])
            if recovery == "resume":
                assert steps[ids[1]][0] >= steps[ids[0]][1], "the second ran after the first, never beside it"
            await client.aclose()
        asyncio.run(finish())
    finally:
        second_server.stop()
