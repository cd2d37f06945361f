"""Where a run came from, and the list of all my runs (``GET /api/runs/``, the ``/runs/`` page):
filters, paging, ownership, and hostile parameters answered 422."""

from datetime import datetime, timedelta, timezone

import pytest

from builder.models import Origin, Run
from builder.origins import origin_text
from builder.services import create_run, save_workflow
from tests.conftest import SIMPLE

pytestmark = pytest.mark.django_db
OTHER = SIMPLE.replace("name: simple", "name: other")


def make(workflow, user, status="succeeded", origin=Origin.MANUAL, detail=None, when=None) -> Run:
    run = create_run(workflow, user, {}, origin=origin, origin_detail=detail)
    fields = {"status": status}
    if when is not None:
        fields["created_at"] = when
    Run.objects.filter(pk=run.pk).update(**fields)
    return run


def listed(client, query: str = "") -> tuple[list[int], int]:
    response = client.get(f"/api/runs/?{query}")
    assert response.status_code == 200, response.content
    return [r["id"] for r in response.json()], int(response["X-Total-Count"])


def test_each_origin_in_words():
    assert origin_text("manual", {}) == "manual"
    assert origin_text("cli", {}) == "command line"
    assert origin_text("schedule", {"trigger": "nightly", "slot": "2026-11-24T02:00:00+00:00"}) == \
        "schedule nightly at 2026-11-24 02:00 UTC"
    assert origin_text("schedule", {"trigger": "nightly", "slot": "2026-11-24T02:00:00+01:00"}) == \
        "schedule nightly at 2026-11-24 02:00 +01:00"
    assert origin_text("schedule", {"trigger": "nightly", "slot": "2026-11-24T02:00:00+01:00", "caught_up": True}) \
        == "schedule nightly at 2026-11-24 02:00 +01:00 (caught up)"
    assert origin_text("webhook", {"trigger": "from_ci"}) == "webhook from_ci"
    assert origin_text("schedule", {"trigger": "nightly", "slot": "2026-11-24T02:00:00Z"}, short=True) == \
        "schedule nightly"
    assert origin_text("api", {"token": "ci-bot"}) == "API token ci-bot"
    assert origin_text("resume", {"run": 12}) == "resume of #12"
    assert origin_text("rerun", {"run": 12}) == "re-run of #12"
    assert origin_text("resume", {"run": 12, "from_step": "per_file[3].parse"}) == \
        "restart of #12 from per_file[3].parse"


def test_odd_details_still_give_words():
    assert origin_text("schedule", {"trigger": 7, "slot": "not a date"}) == "schedule #7"
    assert origin_text("schedule", None) == "schedule"
    assert origin_text("rerun", {"run": "12"}) == "re-run"
    assert origin_text("api", {"token": ["x"]}) == "API token"
    assert origin_text("someday", {}) == "someday"
    assert origin_text("resume", {"run": 12, "from_step": ["x"]}) == "resume of #12"
    assert origin_text("resume", {"from_step": "a"}) == "restart"
    assert origin_text("manual", {"try": "total", "from_run": 3}) == "try of total"
    assert origin_text("manual", {"try": 3}) == "manual"
    assert origin_text("resume", {"run": 3, "from_step": "x" * 500}) == f"restart of #3 from {'x' * 100}"


def test_a_run_says_where_it_came_from(alice_client, alice, workflow):
    first = make(workflow, alice, "failed")
    answer = alice_client.post(f"/api/runs/{first.pk}/rerun", content_type="application/json").json()
    assert (answer["origin"], answer["origin_detail"], answer["origin_text"]) == (
        "rerun", {"run": first.pk}, f"re-run of #{first.pk}")
    night = make(workflow, alice, origin=Origin.SCHEDULE, detail={"trigger": "nightly", "slot": "2026-11-24T02:00:00Z"})
    detail = alice_client.get(f"/api/runs/{night.pk}").json()
    assert detail["origin_text"] == "schedule nightly at 2026-11-24 02:00 UTC"
    assert detail["origin_detail"] == {"trigger": "nightly", "slot": "2026-11-24T02:00:00Z"}
    assert alice_client.get(f"/api/workflows/{workflow.pk}/runs").json()[0]["origin"] in ("schedule", "rerun")


def test_the_list_is_mine_across_workflows_newest_first(client, alice, bob, workflow):
    other = save_workflow(alice, OTHER)
    a = make(workflow, alice)
    b = make(other, alice)
    c = make(workflow, alice)
    bobs = make(save_workflow(bob, SIMPLE), bob)
    client.force_login(alice)
    assert listed(client) == ([c.pk, b.pk, a.pk], 3)
    assert listed(client, f"workflow={other.pk}") == ([b.pk], 1)
    assert listed(client, f"workflow={bobs.workflow_id}") == ([], 0)  # bob's workflow: as if none
    assert client.get(f"/api/runs/{bobs.pk}").status_code == 404
    client.force_login(bob)
    assert listed(client) == ([bobs.pk], 1)


def test_staff_list_everyones_runs_and_anonymous_callers_none(client, alice, bob, staff, workflow):
    mine = make(workflow, alice)
    theirs = make(save_workflow(bob, SIMPLE), bob)
    assert client.get("/api/runs/").status_code == 401
    client.force_login(staff)
    assert listed(client) == ([theirs.pk, mine.pk], 2)


def test_filters_by_status_origin_and_date(alice_client, alice, workflow):
    day = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    old = make(workflow, alice, "failed", when=day - timedelta(days=3))
    hook = make(workflow, alice, "failed", Origin.WEBHOOK, {"trigger": "from_ci"}, when=day)
    token = make(workflow, alice, "running", Origin.API, {"token": "ci-bot"}, when=day + timedelta(days=2))
    assert listed(alice_client, "status=failed") == ([hook.pk, old.pk], 2)
    assert listed(alice_client, "origin=webhook") == ([hook.pk], 1)
    assert listed(alice_client, "status=failed&origin=api") == ([], 0)
    assert listed(alice_client, "since=2026-11-19") == ([token.pk, hook.pk], 2)
    assert listed(alice_client, "until=2026-11-20") == ([hook.pk, old.pk], 2)  # the whole day
    assert listed(alice_client, "since=2026-11-20&until=2026-11-20") == ([hook.pk], 1)
    assert listed(alice_client, "since=2026-11-20T12:00:01%2B00:00") == ([token.pk], 1)
    assert listed(alice_client, "until=2026-11-20T12:00:00Z") == ([old.pk], 1)  # before that moment
    runs = alice_client.get("/api/runs/?origin=api").json()
    assert runs[0]["origin_text"] == "API token ci-bot"


def test_pages_of_runs_with_the_total(alice_client, alice, workflow):
    made = [make(workflow, alice).pk for _ in range(7)][::-1]
    assert listed(alice_client, "limit=3") == (made[:3], 7)
    assert listed(alice_client, "limit=3&offset=3") == (made[3:6], 7)
    assert listed(alice_client, "limit=3&offset=6") == (made[6:], 7)
    assert listed(alice_client, "limit=3&offset=100") == ([], 7)


@pytest.mark.parametrize("query", [
    "status=exploded", "status=a%00", "origin=telepathy", "since=yesterday", "until=2026-13-01",
    "since=2026-02-30", "since=0001-01-01", "until=9999-12-31", "since=2026-11-24T25:00", "since=" + "9" * 41,
    "offset=-1", "offset=1000000001", "offset=99999999999999999999999", "limit=0", "limit=201", "limit=x",
    "workflow=0", "workflow=9223372036854775808", "workflow=abc",
])
def test_hostile_parameters_answer_422(client, alice, workflow, query):
    from django.test import Client

    raw = Client(raise_request_exception=False)
    raw.force_login(alice)
    response = raw.get(f"/api/runs/?{query}")
    assert response.status_code == 422, (query, response.status_code, response.content[:300])
    body = response.json()
    assert isinstance(body["detail"], str) and body["errors"][0]["path"].startswith("query.")


def test_the_page_needs_a_login_and_offers_my_workflows(client, alice, bob, workflow):
    save_workflow(bob, OTHER)
    assert client.get("/runs/").status_code == 302
    client.force_login(alice)
    page = client.get("/runs/?status=failed&workflow=%d" % workflow.pk).content.decode()
    assert 'value="failed" selected' in page and f'value="{workflow.pk}" selected' in page
    assert ">simple<" in page and ">other<" not in page  # bob's workflow is not offered
    assert 'data-testid="nav-runs"' in page
    # hostile query strings are the API's to refuse: the page itself is drawn
    assert client.get("/runs/?status=%00&since=nope&offset=-5").status_code == 200


def test_the_monitors_snapshot_says_where_the_run_came_from(alice, workflow):
    from builder.consumers import _snapshot_now

    run = make(workflow, alice, origin=Origin.API, detail={"token": "ci-bot"})
    snapshot = _snapshot_now(run.pk)["run"]
    assert (snapshot["origin"], snapshot["origin_detail"], snapshot["origin_text"]) == (
        "api", {"token": "ci-bot"}, "API token ci-bot")


def test_the_workflow_list_says_where_the_last_run_came_from(alice_client, alice, workflow):
    make(workflow, alice, origin=Origin.SCHEDULE, detail={"trigger": "nightly", "slot": "2026-11-24T02:00:00Z"})
    page = alice_client.get("/").content.decode()
    assert 'title="schedule nightly at 2026-11-24 02:00 UTC">schedule nightly</span>' in page
