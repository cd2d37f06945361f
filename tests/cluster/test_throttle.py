"""Global limits across real celery workers (builder/throttle.py on Redis): runs on two workers
share a skill's ``concurrency`` and an http ``rate_limit``, and a worker killed while it holds a
slot gives it back within the slot's lease.

One daphne process and two workers of one thread each (so two runs started together go to
both), for the module; the kill test comes last. A local HTTP server (tests/engine/actions/
counting_server.py) records each request and the most in flight at once: the figures are
printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import json
import signal
import time
import uuid

import httpx
import pytest

from tests.cluster.conftest import serving, workers_side_by_side
from tests.engine.actions.counting_server import CountingServer, fits_rate
from tests.servers import manage

LEASE = 2.0  # WORKFLOW_THROTTLE_LEASE of the workers: short, for the kill test

SKILLS = {"one_at_a_time": 1, "single": 1}


@pytest.fixture(scope="module")
def server():
    server = CountingServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def env(cluster_env):
    """The cluster's environment: http may call the loopback server; the skills exist."""
    env = {**cluster_env, "WORKFLOW_HTTP_ALLOW": "127.0.0.1", "WORKFLOW_THROTTLE_LEASE": str(LEASE)}
    schema = {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}
    code = "; ".join(
        f"Skill.objects.update_or_create(name={name!r}, defaults=dict(action='http', "
        f"config={{'url': '${{inputs.url}}', 'timeout': 120}}, input_schema={schema!r}, concurrency={limit}))"
        for name, limit in SKILLS.items())
    done = manage(env, "shell", "-c", f"from builder.models import Skill; {code}")
    assert done.returncode == 0, done.stderr
    return env


@pytest.fixture(scope="module")
def web(env):
    yield from serving(env)


@pytest.fixture(scope="module")
def workers(env):
    yield from workers_side_by_side(env, [f"wf-throttle-{n}" for n in (1, 2)], concurrency=1)


class Api:
    """User ann of the web process, through its HTTP API."""

    def __init__(self, base: str):
        self.http = httpx.Client(base_url=base, timeout=30)
        self.http.get("/login/")
        answer = self.http.post("/login/", data={"username": "ann", "password": "ann-password",
                                                 "csrfmiddlewaretoken": self.http.cookies["csrftoken"]},
                                headers={"Referer": base + "/login/"})
        assert answer.status_code == 302
        self.headers = {"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": base}

    def workflow(self, yaml: str) -> int:
        made = self.http.post("/api/workflows/", json={"yaml": yaml}, headers=self.headers)
        assert made.status_code == 201, made.text
        return made.json()["id"]

    def start(self, workflow_id: int, inputs: dict) -> int:
        started = self.http.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": inputs}, headers=self.headers)
        assert started.status_code == 201, started.text
        return started.json()["id"]

    def cancel(self, run_id: int) -> None:
        self.http.post(f"/api/runs/{run_id}/cancel", headers=self.headers)

    def ended(self, run_id: int, seconds: float = 60) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            state = self.http.get(f"/api/runs/{run_id}").json()
            if state["status"] not in ("queued", "running"):
                return state
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} did not end: {state}")


@pytest.fixture(scope="module")
def api(web, workers):
    return Api(web.base)


def foreach(name: str, items: int, step: dict) -> str:
    return (f"name: {name}-{uuid.uuid4().hex[:6]}\ninputs:\n  base: {{type: string}}\n  tag: {{type: string}}\n"
            f"steps:\n  - id: each\n    foreach: {list(range(items))}\n    concurrency: {items}\n"
            f"    steps:\n      - {json.dumps({'id': 'call', **step})}\n")


def where(cluster_db, run_ids) -> set[str]:
    return {row[0] for row in cluster_db("select worker from builder_run where id = any(%s)", list(run_ids))}


def together(states: list[dict]) -> bool:
    """True when the runs were under way at one moment together (on their workers' clocks)."""
    from datetime import datetime

    spans = [(datetime.fromisoformat(s["started_at"]), datetime.fromisoformat(s["finished_at"])) for s in states]
    return max(start for start, _ in spans) < min(end for _, end in spans)


def test_runs_on_two_workers_never_run_a_skill_of_concurrency_one_twice_at_once(api, server, cluster_db):
    server.reset()
    workflow = api.workflow(foreach("skill", 4, {"uses": "one_at_a_time",
                                                 "with": {"url": "${inputs.base}/s?tag=${inputs.tag}&delay=0.3"}}))
    tags = ["skill-a", "skill-b"]
    runs = [api.start(workflow, {"base": server.base, "tag": tag}) for tag in tags]
    states = [api.ended(run_id) for run_id in runs]
    assert [s["status"] for s in states] == ["succeeded", "succeeded"], states
    assert len(where(cluster_db, runs)) == 2, "one run on each worker"
    assert server.seen() == 8 and together(states), "both runs were under way together"
    print(f"\nskill concurrency 1 on two workers: {server.seen()} requests, at most {server.most} at once")
    assert server.most == 1


def test_runs_on_two_workers_share_a_rate(api, server, cluster_db):
    server.reset()
    workflow = api.workflow(foreach("rate", 12, {"uses": "http", "with": {"url": "${inputs.base}/r?tag=${inputs.tag}",
                                                                          "rate_limit": 4}}))
    tags = ["rate-a", "rate-b"]
    runs = [api.start(workflow, {"base": server.base, "tag": tag}) for tag in tags]
    states = [api.ended(run_id) for run_id in runs]
    assert [s["status"] for s in states] == ["succeeded", "succeeded"], states
    assert len(where(cluster_db, runs)) == 2 and server.seen() == 24 and together(states)
    arrivals = sorted(server.arrivals)
    busiest = max(sum(1 for t in arrivals if start <= t < start + 1) for start in arrivals)
    print(f"\nrate_limit 4 on two workers: {server.seen()} requests in {arrivals[-1] - arrivals[0]:.2f} s, "
          f"at most {busiest} in any second")
    assert fits_rate(arrivals, 4.0, slack=0.1), "one bucket of 4 a second for both workers"
    assert arrivals[-1] - arrivals[0] >= (24 - 4) / 4 * 0.9


def test_a_worker_killed_holding_a_slot_gives_it_back_within_the_lease(api, server, cluster_db, workers):
    """Last: it kills a worker. Run A holds ``single``'s one slot in a 30 s request; run B, on the
    other worker, waits past several leases (A's is renewed); A's worker is killed: B gets it."""
    server.reset()
    workflow = api.workflow(
        "name: single\ninputs:\n  url: {type: string}\nsteps:\n  - {id: call, uses: single, with: {url: '${inputs.url}'}}\n")
    holder = api.start(workflow, {"url": f"{server.base}/k?tag=holder&delay=30"})
    deadline = time.monotonic() + 30
    while server.seen("holder") < 1:
        assert time.monotonic() < deadline, "the holder's request never came"
        time.sleep(0.02)
    waiter = api.start(workflow, {"url": f"{server.base}/k?tag=waiter&delay=0"})
    time.sleep(3 * LEASE)
    assert server.seen("waiter") == 0, "a live holder keeps its slot past its lease"
    (name,) = where(cluster_db, [holder])
    (victim,) = [w for w in workers if name.endswith(f":{w.proc.pid}")]
    assert where(cluster_db, [waiter]) - {name}, "the waiter runs on the other worker"
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    killed = time.monotonic()
    while server.seen("waiter") < 1:
        assert time.monotonic() - killed < LEASE + 3, "the slot did not come back"
        time.sleep(0.02)
    back = time.monotonic() - killed
    print(f"\na killed worker's slot came back after {back:.2f} s (lease {LEASE:g} s)")
    assert back <= LEASE + 1.0
    assert api.ended(waiter)["status"] == "succeeded"
    api.cancel(holder)  # (its worker is gone: it would be taken over, and wait 30 s again)
