"""Approvals through the API with the real engine (builder/approvals.py: one test per clause;
who sees and decides: test_approvals_access.py), and a real server stopped and started again
while a run waits."""

import asyncio
import datetime as dt
import os
import threading

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings
from django.utils import timezone

from builder import approvals, execution, leases
from builder.models import Approval, Run, RunEvent, StepRun
from builder.services import save_workflow
from tests.builder.clients import logged_in, post, web_headers, web_login

pytestmark = pytest.mark.django_db(transaction=True)

PUBLISH = """name: publish
steps:
  - {id: draft, uses: wait, with: {seconds: 0, value: hello}}
  - id: sign_off
    uses: approval
    with: {message: "Publish ${draft}?", approvers: APPROVERS, timeout: TIMEOUT}
  - {id: publish, uses: wait, with: {seconds: 0, value: "${draft} (${sign_off.comment})"}}
outputs:
  decision: ${sign_off}
  published: ${publish}
"""


def publish(approvers="[bob]", timeout="1h") -> str:
    return PUBLISH.replace("APPROVERS", approvers).replace("TIMEOUT", timeout)


@pytest.fixture
def carol(django_user_model):
    return django_user_model.objects.create_user("carol", password="carol-password")


async def start(client, owner, yaml: str) -> int:
    workflow = await sync_to_async(save_workflow)(owner, yaml)
    response = await post(client, f"/api/workflows/{workflow.pk}/runs")
    assert response.status_code == 201, response.content
    return response.json()["id"]


async def reaches(run_id: int, *statuses: str, timeout: float = 10) -> Run:
    """The run once its status is one of ``statuses`` and this process's tasks for it are done."""
    for _ in range(int(timeout / 0.02)):
        run = await Run.objects.aget(pk=run_id)
        if run.status in statuses:
            for _ in range(250):  # the task that ran it ends just after it wrote its status
                if not [t for t in execution._TASKS if not t.done()]:
                    break
                await asyncio.sleep(0.02)
            return await Run.objects.aget(pk=run_id)
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} is {run.status}, not {statuses}, after {timeout} s")


async def pending(client) -> list[dict]:
    response = await client.get("/api/approvals")
    assert response.status_code == 200
    return response.json()


async def test_1_a_run_waits_for_its_approval_holding_no_task_lease_or_process(alice, bob, carol):
    client = await logged_in(alice)
    run_id = await start(client, alice, publish())
    run = await reaches(run_id, "waiting")
    assert run.lease_owner == "" and run.lease_expires is None and run.finished_at is None
    assert run_id not in execution.ACTIVE and not [t for t in execution._TASKS if not t.done()]
    assert run_id not in await sync_to_async(leases.lapsed)(), "recovery never takes a waiting run over"
    steps = {s.path: s.status async for s in StepRun.objects.filter(run_id=run_id)}
    assert steps == {"draft": "succeeded", "sign_off": "waiting"}
    approval = await Approval.objects.aget(run_id=run_id)
    assert (approval.path, approval.message, approval.approver_names) == ("sign_off", "Publish hello?", ["bob"])
    assert abs((approval.deadline - timezone.now()).total_seconds() - 3600) < 60
    listed = await pending(await logged_in(bob))
    assert [(a["run_id"], a["workflow"], a["path"], a["message"]) for a in listed] == [
        (run_id, "publish", "sign_off", "Publish hello?")]
    assert listed[0]["requested_at"] and listed[0]["deadline"]
    assert await pending(client) == [] and await pending(await logged_in(carol)) == []
    assert (await client.get(f"/api/runs/{run_id}")).json()["status"] == "waiting"


async def test_2_approved_the_same_run_goes_on_from_its_stored_steps_and_succeeds(alice, bob):
    run_id = await start(await logged_in(alice), alice, publish())
    await reaches(run_id, "waiting")
    waited_seq = (await Run.objects.aget(pk=run_id)).last_seq
    approval = await Approval.objects.aget(run_id=run_id)
    bobs = await logged_in(bob)
    answer = await post(bobs, f"/api/approvals/{approval.pk}/decide", {"approve": True, "comment": "ship it"})
    assert answer.status_code == 200, answer.content
    assert (answer.json()["decision"], answer.json()["by"], answer.json()["comment"]) == ("approved", "bob", "ship it")
    run = await reaches(run_id, "succeeded", "failed")
    assert run.status == "succeeded", run.error
    decision = run.outputs["decision"]
    assert (decision["approved"], decision["by"], decision["comment"]) == (True, "bob", "ship it") and decision["at"]
    assert run.outputs["published"] == "hello (ship it)"
    rows = [(s.path, s.attempt, s.status) async for s in StepRun.objects.filter(run_id=run_id).order_by("id")]
    assert rows == [("draft", 1, "succeeded"), ("sign_off", 1, "succeeded"), ("publish", 1, "succeeded")]
    seqs = [s async for s in RunEvent.objects.filter(run_id=run_id).order_by("seq").values_list("seq", flat=True)]
    assert seqs == sorted(set(seqs)) and run.last_seq == seqs[-1], "in order, none twice"
    later = [(e.seq, e.type) async for e in RunEvent.objects.filter(run_id=run_id, seq__gt=waited_seq).order_by("seq")]
    assert later[0] == (waited_seq + 1, "run.started"), "its events go on right after the last stored one"
    assert later[-1][1] == "run.finished" and ("step.started" in {kind for _, kind in later})
    assert await pending(bobs) == []
    again = await post(bobs, f"/api/approvals/{approval.pk}/decide", {"approve": False})
    assert again.status_code == 409 and "approved already" in again.json()["detail"]


async def test_2_rejected_the_step_fails_with_the_comment_and_the_run_fails(alice, bob):
    run_id = await start(await logged_in(alice), alice, publish())
    await reaches(run_id, "waiting")
    approval = await Approval.objects.aget(run_id=run_id)
    answer = await post(await logged_in(bob), f"/api/approvals/{approval.pk}/decide",
                        {"approve": False, "comment": "not this week"})
    assert answer.status_code == 200 and answer.json()["decision"] == "rejected"
    run = await reaches(run_id, "succeeded", "failed")
    assert run.status == "failed" and "rejected by bob: not this week" in run.error
    step = await StepRun.objects.aget(run_id=run_id, path="sign_off")
    assert step.status == "failed" and step.error == "rejected by bob: not this week"
    assert not await StepRun.objects.filter(run_id=run_id, path="publish").aexists()


async def test_4_past_its_deadline_the_recovery_pass_continues_the_run_once_and_the_step_fails(alice, bob):
    run_id = await start(await logged_in(alice), alice, publish(timeout="1s"))
    await reaches(run_id, "waiting")
    approval = await Approval.objects.aget(run_id=run_id)
    assert await sync_to_async(approvals.due)() == [], "not due before its deadline"
    await asyncio.sleep(1.1)
    late = await post(await logged_in(bob), f"/api/approvals/{approval.pk}/decide", {"approve": True})
    assert late.status_code == 409 and "deadline" in late.json()["detail"]
    continued = await execution.recover()  # the recovery loop's pass, as every process runs it
    assert continued == [run_id]
    assert await execution.recover() == [], "claimed once: a second pass finds nothing to do"
    run = await reaches(run_id, "succeeded", "failed")
    assert run.status == "failed" and "no decision within 1 s" in run.error
    assert (await Approval.objects.aget(pk=approval.pk)).decision == "expired"
    started = await RunEvent.objects.filter(run_id=run_id, type="run.started").acount()
    assert started == 2


async def test_2_the_run_owner_decides_when_the_step_names_no_approvers(alice, bob):
    client = await logged_in(alice)
    run_id = await start(client, alice, publish(approvers="[]"))
    await reaches(run_id, "waiting")
    [listed] = await pending(client)
    assert listed["approvers"] == ["alice"] and await pending(await logged_in(bob)) == []
    answer = await post(client, f"/api/approvals/{listed['id']}/decide", {"approve": True})
    assert answer.status_code == 200
    assert (await reaches(run_id, "succeeded", "failed")).status == "succeeded"


def test_2_of_two_approvers_deciding_at_once_exactly_one_wins(alice, bob, carol):
    """Two threads (two requests' threads) decide the same approval at the same moment."""
    from builder.services import create_run

    run = create_run(save_workflow(alice, publish("[bob, carol]")), alice, {})
    approval = Approval.objects.create(run=run, path="sign_off", message="Go?", approver_names=["bob", "carol"],
                                       requested_at=timezone.now())
    approval.approvers.set([bob, carol])
    Run.objects.filter(pk=run.pk).update(status="waiting", started_at=timezone.now())
    barrier = threading.Barrier(2)
    results = []

    def decide(user, approve):
        from django.db import connection

        barrier.wait()
        try:
            results.append(("won", approvals.decide(user, approval.pk, approve, user.username)[1]))
        except approvals.Refused as exc:
            results.append(("refused", str(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(u, a)) for u, a in ((bob, True), (carol, False))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(kind for kind, _ in results) == ["refused", "won"], results
    assert [continued for kind, continued in results if kind == "won"] == [True]
    approval.refresh_from_db()
    assert approval.decided_by.username == approval.comment
    assert Run.objects.get(pk=run.pk).status == "queued", "continued by the one that won"


async def test_a_decision_while_other_steps_still_run_is_taken_up_when_the_run_ends_waiting(alice, bob):
    text = """name: side
steps:
  - id: both
    parallel:
      - {id: slow, uses: wait, with: {seconds: 1, value: 1}}
      - {id: ask, uses: approval, with: {message: "Go?", approvers: [bob]}}
  - {id: after, uses: wait, with: {seconds: 0, value: "${ask.approved}"}}
"""
    run_id = await start(await logged_in(alice), alice, text)
    for _ in range(250):
        if await Approval.objects.filter(run_id=run_id).aexists():
            break
        await asyncio.sleep(0.02)
    assert (await Run.objects.aget(pk=run_id)).status == "running"
    approval = await Approval.objects.aget(run_id=run_id)
    answer = await post(await logged_in(bob), f"/api/approvals/{approval.pk}/decide", {"approve": True})
    assert answer.status_code == 200
    run = await reaches(run_id, "succeeded", "failed", timeout=15)
    assert run.status == "succeeded", run.error
    rows = [(s.path, s.status) async for s in StepRun.objects.filter(run_id=run_id).order_by("id")]
    assert ("both.slow", "succeeded") in rows and rows.count(("both.slow", "succeeded")) == 1
    assert ("after", "succeeded") in rows


async def test_cancelling_a_waiting_run_ends_it_cancelled_and_closes_its_approval(alice, bob):
    client = await logged_in(alice)
    run_id = await start(client, alice, publish())
    await reaches(run_id, "waiting")
    answer = await post(client, f"/api/runs/{run_id}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    approval = await Approval.objects.aget(run_id=run_id)
    assert approval.decision == "closed"
    bobs = await logged_in(bob)
    assert await pending(bobs) == []
    late = await post(bobs, f"/api/approvals/{approval.pk}/decide", {"approve": True})
    assert late.status_code == 409
    statuses = [e.data["status"] async for e in RunEvent.objects.filter(run_id=run_id, type="run.status")]
    assert statuses == ["cancelled"]


def test_a_waiting_run_is_never_interrupted_by_recovery(alice):
    from builder.services import create_run

    run = create_run(save_workflow(alice, publish()), alice, {})
    Run.objects.filter(pk=run.pk).update(status="waiting", started_at=timezone.now() - dt.timedelta(hours=1),
                                         created_at=timezone.now() - dt.timedelta(hours=1))
    with override_settings(WORKFLOW_RECOVERY="interrupt"):
        assert asyncio.run(execution.recover()) == []
    assert Run.objects.get(pk=run.pk).status == "waiting"


async def test_a_takeover_asks_again_with_what_was_decided_and_keeps_the_deadline(alice, bob):
    """A run whose process died while an approval waited beside a running step: taken over,
    the approval is asked again (no second row), its deadline unchanged."""
    run_id = await start(await logged_in(alice), alice, publish())
    await reaches(run_id, "waiting")
    approval = await Approval.objects.aget(run_id=run_id)

    def as_if_running_elsewhere():
        Run.objects.filter(pk=run_id).update(status="running", lease_owner=f"{leases.HOST}:999999:dead0000",
                                             lease_expires=timezone.now() + dt.timedelta(minutes=5))
    await sync_to_async(as_if_running_elsewhere)()
    assert run_id in await execution.recover()
    run = await reaches(run_id, "waiting")
    again = await Approval.objects.aget(run_id=run_id)
    assert again.pk == approval.pk and again.deadline == approval.deadline and again.decision == "pending"
    rows = [(s.path, s.attempt, s.status) async for s in StepRun.objects.filter(run_id=run_id).order_by("id")]
    assert rows == [("draft", 1, "succeeded"), ("sign_off", 1, "waiting")]
    assert run.takeovers == 1


# -- a real server, stopped and started again ----------------------------------------------------
@pytest.fixture(scope="module")
def server_env(tmp_path_factory, new_database):
    from tests.servers import migrated

    env = {**os.environ, **new_database(tmp_path_factory.mktemp("approvals")), "DJANGO_DEBUG": "0",
           "WORKFLOW_LEASE_SECONDS": "3"}
    return migrated(env, {"ann": "ann-password", "bob": "bob-password"})


def test_3_a_decision_made_while_no_server_ran_is_continued_when_one_starts(server_env):
    """Daphne runs the run until it waits and stops; bob decides (the service, no server); a new
    server's recovery continues it to its end. Another waiting run, undecided, stays waiting."""
    from tests.servers import Daphne, manage, until_ended

    first = Daphne(server_env).require_started()
    try:
        async def begin():
            client = await web_login(first.base, "ann", "ann-password")
            ids = []
            for timeout in ("1h", "2h"):
                made = await client.post("/api/workflows/", json={"yaml": publish(timeout=timeout).replace(
                    "name: publish", f"name: publish-{timeout}")}, headers=web_headers(client, first.base))
                run = await client.post(f"/api/workflows/{made.json()['id']}/runs", json={},
                                        headers=web_headers(client, first.base))
                ids.append(run.json()["id"])
            for run_id in ids:
                assert (await until_ended(client, run_id))["status"] == "waiting"
            await client.aclose()
            return ids
        decided, undecided = asyncio.run(begin())
    finally:
        first.stop()
    code = ("from django.contrib.auth.models import User; from builder import approvals; "
            f"a = approvals.asked(User.objects.get(username='bob')).get(run_id={decided}); "
            "print(approvals.decide(User.objects.get(username='bob'), a.pk, True, 'while down')[1])")
    done = manage(server_env, "shell", "-c", code)
    assert done.stdout.strip().endswith("True"), done.stderr
    second = Daphne(server_env).require_started()
    try:
        async def finish():
            client = await web_login(second.base, "ann", "ann-password")
            state = await until_ended(client, decided, seconds=20)
            assert state["status"] == "succeeded", state
            assert state["outputs"]["published"] == "hello (while down)"
            await asyncio.sleep(1.5)  # a recovery pass or more (a third of the 3 s lease)
            assert (await client.get(f"/api/runs/{undecided}")).json()["status"] == "waiting"
            await client.aclose()
        asyncio.run(finish())
    finally:
        second.stop()




async def test_the_recorder_stores_a_rolled_back_step_compensated(alice):
    text = """name: trip
steps:
  - id: bookings
    on_error: rollback
    steps:
      - id: flight
        uses: wait
        with: {seconds: 0, value: {id: F1}}
        compensate:
          - {id: cancel_flight, uses: wait, with: {seconds: 0, value: "undo ${flight.id}"}}
      - {id: car, uses: fail, with: {message: no cars}}
"""
    run_id = await start(await logged_in(alice), alice, text)
    run = await reaches(run_id, "succeeded", "failed")
    assert run.status == "failed"
    rows = {s.path: s.status async for s in StepRun.objects.filter(run_id=run_id)}
    assert rows["bookings.flight"] == "compensated" and rows["bookings.car"] == "failed"
    assert rows["bookings.flight.compensate.cancel_flight"] == "succeeded"


def test_a_run_the_cli_recorded_waits_and_the_server_goes_on_with_it_once_decided(alice, tmp_path):
    """The command ends (exit 3) with its run waiting; bob's decision through the API continues
    it in the server, with the owner as approver when the step names none."""
    from django.core.management import call_command

    path = tmp_path / "publish.yaml"
    path.write_text(publish(approvers="[]"))
    with pytest.raises(SystemExit) as exited:
        call_command("runworkflow", str(path), "--user", "alice")
    assert exited.value.code == 3
    run = Run.objects.get(workflow__name="publish")
    assert (run.status, run.mode, run.lease_owner) == ("waiting", "cli", "")
    approval = Approval.objects.get(run=run)
    assert approval.approver_names == ["alice"]

    async def decide():
        answer = await post(await logged_in(alice), f"/api/approvals/{approval.pk}/decide",
                            {"approve": True, "comment": "from the browser"})
        assert answer.status_code == 200
        return await reaches(run.pk, "succeeded", "failed")
    done = asyncio.run(decide())
    assert done.status == "succeeded" and done.outputs["published"] == "hello (from the browser)"
    assert done.mode == "embedded", "it went on in the server"


async def test_3_a_decision_the_moment_the_run_waits_continues_it_once_in_the_same_process(alice, bob):
    """Decided as soon as the row says waiting, while the task that ran it may still be ending:
    the continuation is claimed here again, and the ending task neither frees its lease nor
    forgets it."""
    bobs = await logged_in(bob)
    for n in range(3):
        run_id = await start(await logged_in(alice), alice, publish().replace("name: publish", f"name: quick-{n}"))
        for _ in range(500):
            approval = await Approval.objects.filter(run_id=run_id).afirst()
            if approval is not None and (await Run.objects.aget(pk=run_id)).status == "waiting":
                break
            await asyncio.sleep(0.005)
        answer = await post(bobs, f"/api/approvals/{approval.pk}/decide", {"approve": True})
        assert answer.status_code == 200
        run = await reaches(run_id, "succeeded", "failed")
        assert run.status == "succeeded" and run.lease_owner == "", run.error
        assert await RunEvent.objects.filter(run_id=run_id, type="run.started").acount() == 2
