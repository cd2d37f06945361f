"""Approvals in the celery mode with real processes (builder/approvals.py): a waiting run holds
no worker (each worker has one thread here, and their tasks have all ended), a decision made
through a web process continues the same run on a worker, and a deadline is enforced by the
workers' recovery loops, exactly once."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.cluster.conftest import serving, workers_side_by_side
from tests.servers import manage

LEASE_SECONDS = 3  # the recovery loops look every second

ASK = """name: NAME
steps:
  - {id: draft, uses: wait, with: {seconds: 0, value: hello}}
  - {id: sign_off, uses: approval, with: {message: "Publish ${draft}?", approvers: [bob], timeout: TIMEOUT}}
  - {id: publish, uses: wait, with: {seconds: 0, value: "${draft} (${sign_off.comment})"}}
outputs:
  published: ${publish}
"""
PLAIN = """name: plain
steps:
  - {id: only, uses: wait, with: {seconds: 0.1, value: 7}}
"""


class Api:
    """A user of one web process, through its HTTP API."""

    def __init__(self, base: str, username: str, password: str):
        self.http = httpx.Client(base_url=base, timeout=30)
        self.http.get("/login/")
        answer = self.http.post("/login/", data={"username": username, "password": password,
                                                 "csrfmiddlewaretoken": self.http.cookies["csrftoken"]},
                                headers={"Referer": base + "/login/"})
        assert answer.status_code == 302
        self.headers = {"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": base}

    def post(self, path: str, body: dict | None = None) -> httpx.Response:
        return self.http.post(path, json=body or {}, headers=self.headers)

    def start(self, yaml: str) -> int:
        made = self.post("/api/workflows/", {"yaml": yaml})
        assert made.status_code == 201, made.text
        started = self.post(f"/api/workflows/{made.json()['id']}/runs")
        assert started.status_code == 201, started.text
        return started.json()["id"]

    def status(self, run_id: int) -> str:
        return self.http.get(f"/api/runs/{run_id}").json()["status"]


def until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


@pytest.fixture(scope="module")
def env(cluster_env):
    env = {**cluster_env, "WORKFLOW_LEASE_SECONDS": str(LEASE_SECONDS)}
    code = ("from django.contrib.auth.models import User; "
            "User.objects.filter(username='bob').exists() or User.objects.create_user('bob', password='bob-password')")
    done = manage(env, "shell", "-c", code)
    assert done.returncode == 0, done.stderr
    return env


@pytest.fixture(scope="module")
def web(env):
    yield from serving(env)


@pytest.fixture(scope="module")
def workers(env):
    """Two workers of one thread each: a run that held one would leave no room for a third run."""
    yield from workers_side_by_side(env, ["wf-approvals-1", "wf-approvals-2"], concurrency=1)


def tasks_in_flight(workers) -> set[str]:
    """execute_run tasks a worker received and has not finished."""
    text = "".join("".join(w.output) for w in workers)
    received = set(re.findall(r"builder\.execute_run\[([\w-]+)\] received", text))
    ended = set(re.findall(r"builder\.execute_run\[([\w-]+)\] (?:succeeded|failed|raised)", text))
    return received - ended


def test_waiting_runs_hold_no_worker_and_a_decision_continues_the_run_on_a_worker(web, workers, cluster_db):
    ann, bob = Api(web.base, "ann", "ann-password"), Api(web.base, "bob", "bob-password")
    ids = [ann.start(ASK.replace("NAME", f"ask-{n}").replace("TIMEOUT", "1h")) for n in range(3)]
    for run_id in ids:
        until(lambda: ann.status(run_id) == "waiting", 30, f"run {run_id} waits")
    until(lambda: not tasks_in_flight(workers), 10, "every worker's task ended")
    leases = cluster_db("SELECT lease_owner FROM builder_run WHERE id = ANY(%s)", ids)
    assert [owner for (owner,) in leases] == ["", "", ""]
    # three waiting runs, two worker threads: a plain run still gets one at once
    plain = ann.start(PLAIN)
    until(lambda: ann.status(plain) == "succeeded", 15, "a plain run beside three waiting ones")
    listed = bob.http.get("/api/approvals").json()
    assert sorted(a["run_id"] for a in listed) == sorted(ids)
    first = next(a for a in listed if a["run_id"] == ids[0])
    decided = bob.post(f"/api/approvals/{first['id']}/decide", {"approve": True, "comment": "go"})
    assert decided.status_code == 200, decided.text
    until(lambda: ann.status(ids[0]) == "succeeded", 20, "the approved run ends")
    run = ann.http.get(f"/api/runs/{ids[0]}").json()
    assert run["outputs"] == {"published": "hello (go)"}
    [(worker,)] = cluster_db("SELECT worker FROM builder_run WHERE id = %s", ids[0])
    assert int(worker.split(":")[1]) in {w.proc.pid for w in workers}, "continued on a worker"
    started = cluster_db("SELECT count(*) FROM builder_runevent WHERE run_id = %s AND type = 'run.started'", ids[0])
    assert started == [(2,)]
    again = bob.post(f"/api/approvals/{first['id']}/decide", {"approve": False})
    assert again.status_code == 409
    assert [ann.status(run_id) for run_id in ids[1:]] == ["waiting", "waiting"]
    for run_id in ids[1:]:
        assert ann.post(f"/api/runs/{run_id}/cancel").json()["status"] == "cancelled"


def test_a_rejection_fails_the_step_with_the_comment(web, workers):
    ann, bob = Api(web.base, "ann", "ann-password"), Api(web.base, "bob", "bob-password")
    run_id = ann.start(ASK.replace("NAME", "ask-reject").replace("TIMEOUT", "1h"))
    until(lambda: ann.status(run_id) == "waiting", 30, "the run waits")
    [approval] = [a for a in bob.http.get("/api/approvals").json() if a["run_id"] == run_id]
    assert bob.post(f"/api/approvals/{approval['id']}/decide", {"approve": False, "comment": "no"}).status_code == 200
    until(lambda: ann.status(run_id) == "failed", 20, "the rejected run fails")
    assert "rejected by bob: no" in ann.http.get(f"/api/runs/{run_id}").json()["error"]


def test_past_its_deadline_the_workers_continue_the_run_once_and_it_fails(web, workers, cluster_db):
    ann = Api(web.base, "ann", "ann-password")
    run_id = ann.start(ASK.replace("NAME", "ask-late").replace("TIMEOUT", "2s"))
    until(lambda: ann.status(run_id) == "waiting", 30, "the run waits")
    until(lambda: ann.status(run_id) == "failed", 20, "the deadline fails it")
    assert "no decision within 2 s" in ann.http.get(f"/api/runs/{run_id}").json()["error"]
    started = cluster_db("SELECT count(*) FROM builder_runevent WHERE run_id = %s AND type = 'run.started'", run_id)
    assert started == [(2,)], "continued exactly once, whatever the processes racing for it"
    rows = cluster_db("SELECT attempt, status FROM builder_steprun WHERE run_id = %s AND path = 'sign_off'", run_id)
    assert rows == [(1, "failed")]
    assert cluster_db("SELECT decision FROM builder_approval WHERE run_id = %s", run_id) == [("expired",)]
