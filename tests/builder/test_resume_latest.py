"""Resuming a run with the workflow's latest version (builder/resume.py): what carries over,
what is dropped and said so, what is refused; through the API with sessions, and the CLI."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient, Client

from builder.models import Run, Skill
from builder.resume import carry_over, steps_of
from builder.services import completed_outputs, create_run, save_workflow
from tests.builder.helpers import finished

pytestmark = pytest.mark.django_db(transaction=True)

V1 = """name: report
steps:
  - {id: first, uses: wait, with: {seconds: 0, value: 1}}
  - {id: extra, uses: wait, with: {seconds: 0, value: x}}
  - {id: second, uses: fail, with: {message: boom}}
  - {id: third, uses: wait, with: {seconds: 0, value: "${first + 1}"}}
"""
# extra is gone, second is fixed, third renamed
V2 = """name: report
steps:
  - {id: first, uses: wait, with: {seconds: 0, value: 1}}
  - {id: second, uses: wait, with: {seconds: 0, value: fixed}}
  - {id: final, uses: wait, with: {seconds: 0, value: "${first + 1}"}}
"""


@pytest.fixture
async def async_alice(alice):
    client = AsyncClient()
    await client.aforce_login(alice)
    return client


async def post(client, url, body=None):
    return await client.post(url, data=json.dumps(body) if body is not None else "", content_type="application/json")


async def failed_run(client, alice, text=V1):
    workflow = await sync_to_async(save_workflow)(alice, text)
    started = await post(client, f"/api/workflows/{workflow.pk}/runs", {})
    run = await finished(started.json()["id"])
    assert run.status == "failed", run.error
    return workflow, run


async def resume(client, run_id, version=None):
    return await post(client, f"/api/runs/{run_id}/resume", {"version": version} if version else None)


async def test_latest_reuses_the_steps_still_there_drops_the_others_and_records_its_version(async_alice, alice):
    workflow, old = await failed_run(async_alice, alice)
    await sync_to_async(save_workflow)(alice, V2, "fixed", workflow)
    answer = await resume(async_alice, old.pk, "latest")
    assert answer.status_code == 201, answer.json()
    data = answer.json()
    assert data["version"] == 2 and data["resumed_from"] == old.pk
    assert data["resume"] == {"version": "latest", "from_version": 1, "to_version": 2, "reused": ["first"],
                              "dropped": ["extra"]}
    new = await finished(data["id"])
    assert new.status == "succeeded" and new.outputs == {"first": 1, "second": "fixed", "final": 2}
    assert (await Run.objects.select_related("version").aget(pk=new.pk)).version.number == 2
    rows = {r.path: r.status async for r in new.steps.all()}
    assert rows == {"first": "succeeded", "second": "succeeded", "final": "succeeded"}
    reused = [e.data["path"] async for e in new.events.filter(type="step.succeeded") if e.data["reused"]]
    assert reused == ["first"]


async def test_original_stays_the_default_and_says_what_it_reuses(async_alice, alice):
    workflow, old = await failed_run(async_alice, alice)
    await sync_to_async(save_workflow)(alice, V2, "fixed", workflow)
    answer = await resume(async_alice, old.pk)
    assert answer.status_code == 201
    data = answer.json()
    assert data["version"] == 1 and data["resume"]["reused"] == ["first", "extra"] and data["resume"]["dropped"] == []
    assert (await finished(data["id"])).status == "failed"  # version 1 fails again at second


async def test_foreach_items_carry_over_by_their_steps_paths(async_alice, alice):
    v1 = """name: items
steps:
  - {id: prep, uses: wait, with: {seconds: 0, value: 0}}
  - id: each
    foreach: [1, 2, 3]
    concurrency: 1
    steps:
      - {id: a, uses: wait, with: {seconds: 0, value: "${item}"}}
      - {id: check, if: "${item == 2}", uses: fail, with: {message: two}}
"""
    v2 = v1.replace('      - {id: check, if: "${item == 2}", uses: fail, with: {message: two}}\n',
                    '      - {id: b, uses: wait, with: {seconds: 0, value: "${a * 10}"}}\n')
    workflow, old = await failed_run(async_alice, alice, v1)
    await sync_to_async(save_workflow)(alice, v2, "no check", workflow)
    data = (await resume(async_alice, old.pk, "latest")).json()
    assert data["resume"]["reused"] == ["prep", "each[*].a"] and data["resume"]["dropped"] == []
    new = await finished(data["id"])
    assert new.status == "succeeded" and new.outputs["each"] == [10, 20, 30]
    reused = {e.data["path"] async for e in new.events.filter(type="step.succeeded") if e.data["reused"]}
    assert reused == {"prep", "each[0].a", "each[1].a"}


def test_a_block_that_changed_inside_runs_again_its_unchanged_steps_reused():
    """A parallel that gained a branch is not reused whole (the new branch would never run);
    its branches that are the same are. A step whose action changed is dropped."""
    tree = lambda branches: [{"id": "p", "kind": "parallel", "children": [  # noqa: E731
        {"id": b, "kind": "action", "uses": "wait"} for b in branches]},
        {"id": "n", "kind": "action", "uses": "wait"}]
    old, new = steps_of(tree("xy")), steps_of(tree("xyz"))
    new["n"] = ("action", "http")
    stored = {"p": {"x": 1, "y": 2}, "p.x": 1, "p.y": 2, "n": 3}
    completed, reused, dropped = carry_over(stored, old, new)
    assert completed == {"p.x": 1, "p.y": 2} and reused == ["p.x", "p.y"] and dropped == ["p", "n"]
    assert carry_over(stored, old, steps_of(tree("xy")))[0] == {**stored, "n": 3}  # nothing changed: all of it
    # the old version no longer loads: no block is reused whole, the actions still there are
    assert carry_over(stored, None, old)[0] == {"p.x": 1, "p.y": 2, "n": 3}


async def test_completed_outputs_for_the_new_version_leave_a_changed_block_out(async_alice, alice):
    v1 = """name: blocks
steps:
  - id: p
    parallel:
      - {id: x, uses: wait, with: {seconds: 0, value: 1}}
      - {id: y, uses: wait, with: {seconds: 0, value: 2}}
  - {id: boom, uses: fail, with: {message: boom}}
"""
    v2 = v1.replace("      - {id: y, uses: wait, with: {seconds: 0, value: 2}}\n",
                    "      - {id: y, uses: wait, with: {seconds: 0, value: 2}}\n"
                    "      - {id: z, uses: wait, with: {seconds: 0, value: 3}}\n").replace(
        "{id: boom, uses: fail, with: {message: boom}}", "{id: boom, uses: wait, with: {seconds: 0, value: ok}}")
    workflow, old = await failed_run(async_alice, alice, v1)
    workflow = await sync_to_async(save_workflow)(alice, v2, "z", workflow)
    data = (await resume(async_alice, old.pk, "latest")).json()
    assert data["resume"]["reused"] == ["p.x", "p.y"] and data["resume"]["dropped"] == ["p"]
    version = await sync_to_async(workflow.current_version)()
    assert set(await sync_to_async(completed_outputs)(old, version)) == {"p.x", "p.y"}
    await finished(data["id"])


async def test_a_block_that_gained_a_branch_runs_it_when_resumed_with_latest(async_alice, alice):
    v1 = """name: grown
steps:
  - id: p
    parallel:
      - {id: x, uses: wait, with: {seconds: 0, value: 1}}
  - {id: boom, uses: fail, with: {message: boom}}
"""
    v2 = v1.replace("      - {id: x, uses: wait, with: {seconds: 0, value: 1}}\n",
                    "      - {id: x, uses: wait, with: {seconds: 0, value: 1}}\n"
                    "      - {id: z, uses: wait, with: {seconds: 0, value: 3}}\n").replace(
        "{id: boom, uses: fail, with: {message: boom}}", "{id: boom, uses: wait, with: {seconds: 0, value: ok}}")
    workflow, old = await failed_run(async_alice, alice, v1)
    await sync_to_async(save_workflow)(alice, v2, "z", workflow)
    new = await finished((await resume(async_alice, old.pk, "latest")).json()["id"])
    assert new.status == "succeeded" and new.outputs["p"] == {"x": 1, "z": 3}


async def test_nothing_to_resume_when_every_completed_step_was_renamed(async_alice, alice):
    workflow, old = await failed_run(async_alice, alice)
    renamed = V1.replace("id: first", "id: first2").replace("id: extra", "id: extra2").replace(
        "${first + 1}", "${first2 + 1}")
    await sync_to_async(save_workflow)(alice, renamed, "renamed", workflow)
    answer = await resume(async_alice, old.pk, "latest")
    assert answer.status_code == 409
    assert answer.json()["detail"].startswith(f"nothing to resume: none of the steps run #{old.pk} completed")
    assert "first, extra" in answer.json()["detail"]
    assert await Run.objects.acount() == 1


async def test_an_invalid_latest_version_is_refused_with_its_problems(async_alice, alice):
    skill = await Skill.objects.acreate(name="pause", action="wait", config={"seconds": 0})
    workflow, old = await failed_run(async_alice, alice)
    await sync_to_async(save_workflow)(alice, V2.replace("uses: wait, with: {seconds: 0, value: fixed}",
                                                         "uses: pause"), "skill", workflow)
    skill.enabled = False
    await skill.asave()
    answer = await resume(async_alice, old.pk, "latest")
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"].startswith("version 2, the latest, is not valid")
    assert body["errors"] and "pause" in body["errors"][0]["message"]
    assert (await resume(async_alice, old.pk)).status_code == 201  # its own version still runs


async def test_inputs_the_latest_version_refuses_are_a_422(async_alice, alice):
    workflow, old = await failed_run(async_alice, alice)
    await sync_to_async(save_workflow)(alice, V2.replace("steps:", "inputs:\n  must: integer\nsteps:", 1), "", workflow)
    answer = await resume(async_alice, old.pk, "latest")
    assert answer.status_code == 422 and "missing required input 'must'" in answer.json()["detail"]


async def test_a_running_or_queued_run_is_not_resumed(async_alice, alice):
    workflow = await sync_to_async(save_workflow)(alice, V2)
    run = await sync_to_async(create_run)(workflow, alice, {})
    for status in ("queued", "running", "waiting"):
        await Run.objects.filter(pk=run.pk).aupdate(status=status)
        for version in (None, "latest"):
            answer = await resume(async_alice, run.pk, version)
            assert answer.status_code == 409, (status, version)
            assert f"(this one is {status})" in answer.json()["detail"]
    assert await Run.objects.acount() == 1


async def test_a_succeeded_run_resumes_only_into_a_changed_latest_version(async_alice, alice):
    workflow = await sync_to_async(save_workflow)(alice, V2)
    ok = await finished((await post(async_alice, f"/api/workflows/{workflow.pk}/runs", {})).json()["id"])
    assert ok.status == "succeeded"
    original = await resume(async_alice, ok.pk)
    assert original.status_code == 409 and original.json()["detail"].startswith("nothing to resume: the run succeeded")
    same = await resume(async_alice, ok.pk, "latest")
    assert same.status_code == 409 and "with version 1, the latest" in same.json()["detail"]
    grown = V2 + '  - {id: more, uses: wait, with: {seconds: 0, value: "${final + 1}"}}\n'
    await sync_to_async(save_workflow)(alice, grown, "one more step", workflow)
    answer = await resume(async_alice, ok.pk, "latest")
    assert answer.status_code == 201 and answer.json()["resume"]["reused"] == ["first", "second", "final"]
    new = await finished(answer.json()["id"])
    assert new.status == "succeeded" and new.outputs["more"] == 3
    ran = [e.data["path"] async for e in new.events.filter(type="step.started")]
    assert ran == ["more"]


async def test_another_users_run_is_404_and_nothing_is_made(alice, bob):
    client = AsyncClient()
    await client.aforce_login(alice)
    _, old = await failed_run(client, alice)
    intruder = AsyncClient()
    await intruder.aforce_login(bob)
    for version in (None, "latest", "original"):
        assert (await resume(intruder, old.pk, version)).status_code == 404
    assert (await resume(intruder, 10**6, "latest")).status_code == 404
    assert await Run.objects.acount() == 1


async def test_hostile_bodies_are_422_never_500(async_alice, alice):
    _, old = await failed_run(async_alice, alice)
    for body in ({"version": "newest"}, {"version": 2}, {"version": None}, {"version": "latest\x00"},
                 {"version": ["latest"]}):
        answer = await post(async_alice, f"/api/runs/{old.pk}/resume", body)
        assert answer.status_code == 422, (body, answer.status_code)
        assert answer.json()["errors"][0]["path"] == "body.version"
    bad = await async_alice.post(f"/api/runs/{old.pk}/resume", data="{", content_type="application/json")
    assert bad.status_code == 400
    for text in ('"latest"', "[]", "1"):  # never taken for "no body", the original version
        answer = await async_alice.post(f"/api/runs/{old.pk}/resume", data=text, content_type="application/json")
        assert answer.status_code == 422 and "JSON object" in answer.json()["detail"]
    assert (await post(async_alice, "/api/runs/0/resume", {"version": "latest"})).status_code == 422
    assert await Run.objects.acount() == 1


def test_csrf_is_enforced_for_a_session_resume(alice):
    workflow = save_workflow(alice, V1)
    old = create_run(workflow, alice, {})
    Run.objects.filter(pk=old.pk).update(status="failed")
    save_workflow(alice, V2, "fixed", workflow)
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    url = f"/api/runs/{old.pk}/resume"
    body = json.dumps({"version": "latest"})
    assert client.post(url, data=body, content_type="application/json").status_code == 403
    client.get("/login/")
    token = client.cookies["csrftoken"].value
    answer = client.post(url, data=body, content_type="application/json", headers={"X-CSRFToken": token})
    assert answer.status_code == 201 and answer.json()["version"] == 2
    assert answer.json()["resume"]["reused"] == [] and answer.json()["resume"]["dropped"] == []


# -- the CLI -------------------------------------------------------------------------------------
def test_cli_resumes_with_latest_and_says_what_it_reused(alice, capsys, tmp_path):
    from django.core.management import call_command

    workflow = save_workflow(alice, V1)
    old = create_run(workflow, alice, {})
    Run.objects.filter(pk=old.pk).update(status="failed")
    old.steps.create(path="first", step_id="first", kind="action", uses="wait", status="succeeded", output=1)
    old.steps.create(path="extra", step_id="extra", kind="action", uses="wait", status="succeeded", output="x")
    save_workflow(alice, V2, "fixed", workflow)

    def command(*args) -> int:
        with pytest.raises(SystemExit) as exit_:
            call_command("runworkflow", *args)
        return exit_.value.code

    assert command("--resume", str(old.pk), "--latest", "--user", "alice", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "succeeded" and data["outputs"] == {"first": 1, "second": "fixed", "final": 2}
    assert data["resume"] == {"version": "latest", "from_version": 1, "to_version": 2, "reused": ["first"],
                              "dropped": ["extra"]}
    new = Run.objects.select_related("version").get(pk=data["run"])
    assert (new.status, new.mode, new.version.number, new.resumed_from_id) == ("succeeded", "cli", 2, old.pk)
    assert data["steps"]["first"]["attempts"] == 0, "reused, not run"
    # with its own version it fails at second again; another user's run does not exist for bob
    assert command("--resume", str(old.pk), "--user", "alice") == 1
    assert "reused: first, extra" in capsys.readouterr().out
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("bob")
    assert command("--resume", str(old.pk), "--latest", "--user", "bob") == 2
    assert f"no run #{old.pk} of user 'bob'" in capsys.readouterr().err
    assert command("--resume", str(new.pk), "--user", "alice") == 2
    assert "nothing to resume: the run succeeded" in capsys.readouterr().err
    assert command("--latest") == 2
    # PATH with --resume: the file is saved as the new version and the run resumes with it
    edited = tmp_path / "report.yaml"
    edited.write_text(V2.replace("value: fixed", "value: edited"))
    assert command(str(edited), "--resume", str(old.pk), "--user", "alice", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["outputs"]["second"] == "edited" and data["resume"]["to_version"] == 3
    other = tmp_path / "other.yaml"
    other.write_text(V2.replace("name: report", "name: other"))
    assert command(str(other), "--resume", str(old.pk), "--user", "alice") == 2
    assert "run #%d is of workflow 'report'" % old.pk in capsys.readouterr().err
