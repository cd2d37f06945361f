"""The monitor in a real Chromium: branches running side by side, the timeline, figures,
cancel, resume, reconnecting, and another user's pages."""

import re
import time

import pytest
from playwright.sync_api import expect

from builder.models import Run, StepRun
from builder.services import create_run, save_workflow

from .conftest import login_as

pytestmark = pytest.mark.django_db(transaction=True)

PARALLEL = """version: 1
name: side-by-side
steps:
  - id: both
    parallel:
      - {id: left, uses: wait, with: {seconds: 1.5, value: L}}
      - {id: right, uses: wait, with: {seconds: 1.5, value: R}}
  - id: joined
    uses: merge
    with: {values: ["${left}", "${right}"], mode: collect}
"""

LONG = """version: 1
name: long
steps:
  - {id: sleep, uses: wait, with: {seconds: 60}}
"""

FLAKY = """version: 1
name: flaky
inputs:
  marker: {type: string}
steps:
  - {id: prepare, uses: wait, with: {seconds: 0.05, value: ready}}
  - id: check
    uses: python
    with: {function: "tests.browser.functions:fail_unless_exists", args: ["${inputs.marker}"]}
"""


def start_run_in_page(page, workflow) -> dict:
    """Start a run through the API from the open page (its session and CSRF cookie), as a script would."""
    return page.evaluate(f"""() => fetch('/api/workflows/{workflow.pk}/runs', {{method: 'POST',
        headers: {{'Content-Type': 'application/json',
                  'X-CSRFToken': document.cookie.match(/csrftoken=([^;]+)/)[1]}},
        body: '{{}}'}}).then(r => r.json())""")


def run_from_editor(page, server, workflow):
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    page.get_by_role("button", name="▶ Run").click()
    page.click("[data-testid=run-confirm]")
    page.wait_for_url(re.compile(r"/runs/\d+/"))
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    return int(re.search(r"/runs/(\d+)/", page.url).group(1))


def test_branches_run_at_the_same_time_on_the_monitor(page, server, alice, shot):
    workflow = save_workflow(alice, PARALLEL)
    login_as(page, server, alice)
    run_from_editor(page, server, workflow)
    page.wait_for_function("""() => ['left', 'right'].every(
        id => document.querySelector(`.card[data-id=${id}]`)?.dataset.status === 'running')""", timeout=10000)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "running")
    shot("running")

    page.click("[data-testid=connection]")  # drop the socket: the view reconnects and catches up
    expect(page.locator("[data-testid=connection]")).to_have_attribute("data-state", "live")

    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=15000)
    for step_id in ("left", "right", "joined"):
        expect(page.locator(f".card[data-id={step_id}]")).to_have_attribute("data-status", "succeeded")
    expect(page.locator(".card[data-id=left] [data-testid=card-status]")).to_contain_text("✓ succeeded")

    left = page.locator(".tl-bar[data-path='both.left']").bounding_box()
    right = page.locator(".tl-bar[data-path='both.right']").bounding_box()
    joined = page.locator(".tl-bar[data-path='joined']").bounding_box()
    overlap = min(left["x"] + left["width"], right["x"] + right["width"]) - max(left["x"], right["x"])
    assert overlap > 0.8 * min(left["width"], right["width"])  # they ran at the same time
    assert joined["x"] >= max(left["x"] + left["width"], right["x"] + right["width"]) - 2  # then the join

    figures = page.locator("[data-testid=figures]").inner_text()
    assert re.search(r"ran in [\d.]+ s · [\d.]+ s of work · ([\d.]+)× from parallel branches", figures), figures
    speedup = float(re.search(r"([\d.]+)×", figures).group(1))
    assert speedup > 1.5
    assert "3 action steps" in figures
    expect(page.locator("[data-testid=run-outputs]")).to_contain_text('"joined"')  # nothing selected: the outputs

    page.locator(".card[data-id=left]").click()
    expect(page.locator("[data-testid=detail-title]")).to_have_text("both.left")
    expect(page.locator("[data-testid=detail]")).to_contain_text("Inputs (as resolved)")
    assert page.url.endswith("#step=both.left")
    shot()


def test_cancel_a_long_run_from_the_monitor(page, server, alice, shot):
    workflow = save_workflow(alice, LONG)
    login_as(page, server, alice)
    run_id = run_from_editor(page, server, workflow)
    expect(page.locator(".card[data-id=sleep]")).to_have_attribute("data-status", "running", timeout=10000)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "cancelled", timeout=10000)
    expect(page.locator(".card[data-id=sleep]")).to_have_attribute("data-status", "cancelled")
    assert Run.objects.get(pk=run_id).status == "cancelled"
    expect(page.get_by_role("button", name="Cancel")).to_be_disabled()
    shot()


def test_resume_a_failed_run(page, server, alice, tmp_path, shot, settings):
    settings.WORKFLOW_PYTHON_ALLOWED = [*settings.WORKFLOW_PYTHON_ALLOWED, "tests.browser.functions.*"]
    marker = tmp_path / "marker"
    workflow = save_workflow(alice, FLAKY)
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    page.get_by_role("button", name="▶ Run").click()
    page.get_by_label("marker").fill(str(marker))
    page.click("[data-testid=run-confirm]")
    page.wait_for_url(re.compile(r"/runs/\d+/"))
    first = int(re.search(r"/runs/(\d+)/", page.url).group(1))
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "failed", timeout=10000)
    expect(page.locator(".card[data-id=check]")).to_have_attribute("data-status", "failed")
    expect(page.locator("[data-testid=run-error]")).to_contain_text("is not there yet")
    shot("failed")

    marker.write_text("now it is")
    page.get_by_role("button", name="Resume", exact=True).click()
    page.wait_for_url(lambda url: re.search(r"/runs/(\d+)/", url) and int(re.search(r"/runs/(\d+)/", url).group(1)) != first)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=10000)
    expect(page.get_by_text(f"resumed from #{first}")).to_be_visible()
    resumed = Run.objects.exclude(pk=first).get(workflow=workflow)
    assert resumed.resumed_from_id == first and resumed.status == "succeeded"
    shot()


def test_another_user_cannot_open_the_editor_or_the_monitor(page, server, alice, bob):
    workflow = save_workflow(alice, PARALLEL)
    run = create_run(workflow, alice, {})
    login_as(page, server, bob)
    assert page.goto(f"{server.url}/workflows/{workflow.pk}/").status == 404
    assert page.goto(f"{server.url}/runs/{run.pk}/").status == 404
    assert page.goto(f"{server.url}/api/runs/{run.pk}").status == 404
    page.goto(f"{server.url}/")
    expect(page.get_by_text("side-by-side")).to_have_count(0)
    # and the socket refuses him too
    code = page.evaluate(f"""() => new Promise(done => {{
        const ws = new WebSocket(`ws://${{location.host}}/ws/runs/{run.pk}/`);
        ws.onclose = e => done(e.code);
    }})""")
    assert code == 4403


ITEMS = """version: 1
name: items
steps:
  - {id: src, uses: wait, with: {seconds: 0, value: %s}}
  - id: each
    foreach: ${src}
    concurrency: 20
    steps:
      - {id: work, uses: wait, with: {seconds: 0.001}}
""" % list(range(120))


def test_a_foreach_shows_progress_and_pages_its_items(page, server, alice, shot):
    workflow = save_workflow(alice, ITEMS)
    login_as(page, server, alice)
    run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=15000)
    expect(page.locator(".card[data-id=each] [data-testid=foreach-progress]")).to_contain_text("120 / 120")
    expect(page.locator(".card[data-id=work] [data-testid=card-status]")).to_contain_text("✓ 120")
    page.get_by_role("button", name="Show the items of each").click()
    expect(page.locator("[data-testid=item-row]")).to_have_count(50)
    first_page = page.locator("[data-testid=item-row]").first.inner_text()
    page.click("[data-testid=items-next]")
    expect(page.locator("[data-testid=items] caption")).to_contain_text("51–100 of 120")
    assert page.locator("[data-testid=item-row]").first.inner_text() != first_page
    page.locator("[data-testid=item-row] button").first.click()
    expect(page.locator("[data-testid=detail-title]")).to_have_text(re.compile(r"each\[\d+\]\.work"))
    shot()


def test_a_monitor_opened_mid_run_counts_the_items_under_way_right(page, server, alice):
    from builder.models import StepRun

    slow = ITEMS.replace("concurrency: 20", "concurrency: 4").replace("seconds: 0.001", "seconds: 0.08")
    slow = slow.replace(str(list(range(120))), str(list(range(48))))
    workflow = save_workflow(alice, slow)
    login_as(page, server, alice)
    page.goto(f"{server.url}/")
    run = start_run_in_page(page, workflow)
    deadline = time.monotonic() + 10
    while not StepRun.objects.filter(run_id=run["id"], path__startswith="each[", status="succeeded").exists():
        assert time.monotonic() < deadline, "no item finished"
        time.sleep(0.05)
    page.goto(f"{server.url}/runs/{run['id']}/")  # items are under way as the snapshot is taken
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=15000)
    # every item that was running at the snapshot has left the running count
    expect(page.locator(".card[data-id=work] [data-testid=card-status]")).to_have_text(re.compile(r"^\s*✓ 48\s*$"))


def test_big_outputs_are_cut_until_asked_for(page, server, alice):
    big = "version: 1\nname: big-output\nsteps:\n  - {id: src, uses: wait, with: {seconds: 0, value: %s}}\n" % (
        list(range(5000)))
    workflow = save_workflow(alice, big)
    login_as(page, server, alice)
    run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=10000)
    outputs = page.locator("[data-testid=run-outputs] pre")
    expect(outputs).to_contain_text('"src": [')
    assert len(outputs.inner_text()) < 21000 and "4999" not in outputs.inner_text()
    page.get_by_role("button", name=re.compile(r"Show all 5,00\d lines")).click()
    expect(outputs).to_contain_text("4999")


SECRET = """version: 1
name: uses-a-secret
steps:
  - id: call
    uses: wait
    with: {seconds: 0, value: "Bearer ${secrets.TOKEN}"}
"""


def test_step_inputs_show_secrets_as_stars(page, server, alice, shot):
    from builder.models import Secret

    Secret.objects.create(owner=alice, name="TOKEN", value="very-secret-value-42")
    workflow = save_workflow(alice, SECRET)
    login_as(page, server, alice)
    run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=10000)
    page.locator(".card[data-id=call]").click()
    expect(page.locator("[data-testid=detail]")).to_contain_text('"value": "Bearer ***"')
    assert "very-secret-value-42" not in page.content()
    shot()


def test_the_workflow_list_shows_run_statuses_live(page, server, alice):
    workflow = save_workflow(alice, PARALLEL)
    login_as(page, server, alice)
    page.goto(f"{server.url}/")
    row = page.locator(f"tr[data-workflow='{workflow.pk}']")
    expect(row.locator("[data-testid=last-run]")).to_have_text("never run")
    expect(page.locator("[data-testid=list-connection]")).to_have_text("Run statuses update live.")
    start_run_in_page(page, workflow)
    expect(row.locator("[data-testid=last-run] .status")).to_have_attribute("data-status", "running", timeout=10000)
    expect(row.locator("[data-testid=last-run] .status")).to_have_attribute("data-status", "succeeded", timeout=15000)
    expect(row.locator("[data-testid=last-duration]")).to_contain_text(" s")


RESTARTED = """version: 1
name: restarted
steps:
  - {id: first, uses: wait, with: {seconds: 0, value: 1}}
  - id: each
    foreach: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    concurrency: 2
    steps:
      - {id: w, uses: wait, with: {seconds: 0.4, value: "${item}"}}
  - {id: last, uses: wait, with: {seconds: 0, value: done}}
"""


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_open_monitor_follows_its_run_through_a_server_killed_and_restarted(page, server, alice, shot):
    """Embedded mode: the monitor stays open while its server is killed with kill -9 and started
    again on the same address; it reconnects by itself and follows the run, taken over by the
    new server, to its end: no step left shown running, no finished item run again."""
    from tests.servers import Daphne

    env = {**server_env(), "WORKFLOW_RECOVER_ON_START": "1", "WORKFLOW_LEASE_SECONDS": "6"}
    port = _free_port()
    first = Daphne(env, port=port).require_started()
    try:
        workflow = save_workflow(alice, RESTARTED)
        login_as(page, first, alice)
        page.goto(f"{first.url}/workflows/{workflow.pk}/")
        expect(page.locator("body[data-ready=true]")).to_be_attached()
        run_id = start_run_in_page(page, workflow)["id"]
        page.goto(f"{first.url}/runs/{run_id}/")
        expect(page.locator("[data-testid=connection]")).to_have_attribute("data-state", "live")
        deadline = time.monotonic() + 20
        while StepRun.objects.filter(run_id=run_id, path__startswith="each[", status="succeeded").count() < 3:
            assert time.monotonic() < deadline, "three items never finished"
            time.sleep(0.05)
        first.proc.kill()  # SIGKILL: nothing is cleaned up
        first.proc.wait(5)
    finally:
        first.stop()
    done_before = set(StepRun.objects.filter(run_id=run_id, status="succeeded").values_list("path", flat=True))
    expect(page.locator("[data-testid=connection]")).to_have_attribute("data-state", "reconnecting", timeout=5000)
    shot("reconnecting")

    second = Daphne(env, port=port).require_started()
    try:
        expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded",
                                                                             timeout=30000)
        expect(page.locator("[data-testid=connection]")).to_have_attribute("data-state", "live")
        expect(page.locator(".card[data-id=last]")).to_have_attribute("data-status", "succeeded")
        expect(page.locator(".card[data-id=each]")).to_have_attribute("data-status", "succeeded")
        assert page.locator(".card[data-status=running]").count() == 0, "a step is still shown running"
        shot()
    finally:
        second.stop()
    run = Run.objects.get(pk=run_id)
    assert run.status == "succeeded" and run.takeovers == 1
    for path in done_before:  # finished before the kill: never started again
        assert list(StepRun.objects.filter(run_id=run_id, path=path).values_list("attempt", "status")) == \
            [(1, "succeeded")], path


def server_env() -> dict:
    """The environment of the session's server (tests/browser/conftest.py), for more servers."""
    import os

    from django.conf import settings

    env = {**os.environ, "SQLITE_PATH": str(settings.DATABASES["default"]["NAME"]), "DJANGO_DEBUG": "0"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    return env
