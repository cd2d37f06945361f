"""The celery mode with real processes: a run started through the API of one daphne process is
executed by a celery worker, streams to a websocket client connected to another daphne
process, and the API agrees with what the socket said."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time

import pytest
import websockets

from tests.builder.test_server import login, ws_headers
from tests.cluster.conftest import Worker
from tests.servers import ROOT, Daphne, deployment_env, until_ended

RELAY = """name: relay
inputs:
  n: {type: integer, default: 3}
steps:
  - id: first
    uses: wait
    with: {seconds: 0.4, value: "${inputs.n}"}
  - id: fan
    parallel:
      - id: left
        uses: wait
        with: {seconds: 0.05, value: "${first + 1}"}
      - id: right
        uses: wait
        with: {seconds: 0.1, value: "${first * 10}"}
outputs:
  total: ${left + right}
"""
PATHS = ("first", "fan", "fan.left", "fan.right")


@pytest.fixture(scope="module")
def cluster(cluster_env):
    """One worker and two web processes (A and B), started once for the module."""
    started = []
    try:
        worker = Worker(cluster_env, "wf-test-1")
        started.append(worker)
        for _ in range(2):
            started.append(Daphne(cluster_env, timeout=30).require_started())
        yield started
    finally:
        for process in reversed(started):
            process.stop()


async def _start(client, base: str, yaml: str, inputs: dict) -> int:
    headers = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": base}
    created = await client.post("/api/workflows/", json={"yaml": yaml, "message": "test"}, headers=headers)
    assert created.status_code == 201, created.text
    started = await client.post(f"/api/workflows/{created.json()['id']}/runs", json={"inputs": inputs},
                                headers=headers)
    assert started.status_code == 201, started.text
    return started.json()["id"]


async def _watch(server: Daphne, client, run_id: int) -> tuple[dict, list[dict]]:
    """The snapshot and every later event of a run, until ``run.finished``."""
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws/runs/{run_id}/",
                                  additional_headers=ws_headers(client, server.base)) as ws:
        snapshot = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert snapshot["type"] == "snapshot"
        events: list[dict] = []
        while not any(e["type"] == "run.finished" for e in events):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 15))
            if frame["type"] == "events":
                events.extend(frame["events"])
    return snapshot, events


def test_a_run_started_on_one_server_runs_on_a_worker_and_streams_to_another(cluster, cluster_db):
    worker, web_a, web_b = cluster

    async def scenario():
        on_a = await login(web_a.base, "ann", "ann-password")
        on_b = await login(web_b.base, "ann", "ann-password")
        run_id = await _start(on_a, web_a.base, RELAY, {"n": 4})
        snapshot, events = await _watch(web_b, on_b, run_id)
        final = {server: (await client.get(f"/api/runs/{run_id}")).json()
                 for server, client in (("a", on_a), ("b", on_b))}
        await on_a.aclose()
        await on_b.aclose()
        return run_id, snapshot, events, final

    run_id, snapshot, events, final = asyncio.run(scenario())

    # the socket on B heard the run live, from a process that is neither A nor B
    assert snapshot["run"]["status"] in ("queued", "running")
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)) and seqs[0] > snapshot["seq"]
    succeeded = {e["path"] for e in events if e["type"] == "step.succeeded"}
    assert {"fan.left", "fan.right"} <= succeeded and set(PATHS) <= succeeded | set(snapshot["steps"])
    finished = events[-1]
    assert finished["type"] == "run.finished" and finished["status"] == "succeeded"
    assert finished["outputs"] == {"total": 45}

    [(worker_name, mode)] = cluster_db("select worker, mode from builder_run where id = %s", run_id)
    assert mode == "celery"
    host, pid = worker_name.split(":")[:2]
    assert (host, int(pid)) == (socket.gethostname(), worker.proc.pid)
    assert "builder.execute_run[" in worker.text and "received" in worker.text
    assert pid not in {str(web_a.proc.pid), str(web_b.proc.pid)}

    # and the API (of A, which started it, and of B) agrees with the socket
    for run in final.values():
        assert run["status"] == "succeeded" and run["mode"] == "celery"
        assert run["outputs"] == finished["outputs"] and run["last_seq"] == finished["seq"]
        steps = {s["path"]: s for s in run["steps"]}
        assert {path: steps[path]["status"] for path in PATHS} == dict.fromkeys(PATHS, "succeeded")
    assert final["a"]["duration_ms"] == pytest.approx(finished["duration_ms"], abs=1)


def test_every_run_of_a_burst_is_executed_once(cluster, cluster_db):
    """Runs started at once through both servers each run exactly once, on the worker."""
    worker, web_a, web_b = cluster

    async def scenario():
        clients = [await login(web.base, "ann", "ann-password") for web in (web_a, web_b)]
        headers = [{"X-CSRFToken": c.cookies["csrftoken"], "Referer": w.base} for c, w in zip(clients, (web_a, web_b))]
        created = await clients[0].post("/api/workflows/", json={"yaml": RELAY.replace("relay", "burst")
                                                                 .replace("seconds: 0.4", "seconds: 0"),
                                                                 "message": "burst"}, headers=headers[0])
        wf = created.json()["id"]
        started = await asyncio.gather(*(clients[i % 2].post(f"/api/workflows/{wf}/runs", json={"inputs": {"n": i}},
                                                             headers=headers[i % 2]) for i in range(8)))
        ids = {r.json()["id"]: i for i, r in enumerate(started)}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = [(await clients[0].get(f"/api/runs/{run_id}")).json() for run_id in ids]
            if all(r["status"] not in ("queued", "running") for r in runs):
                break
            await asyncio.sleep(0.1)
        for client in clients:
            await client.aclose()
        return ids, runs

    ids, runs = asyncio.run(scenario())
    for run in runs:
        n = ids[run["id"]]
        assert run["status"] == "succeeded" and run["outputs"] == {"total": n + 1 + n * 10}
    attempts = cluster_db("select run_id, path, count(*) from builder_steprun where run_id = any(%s) "
                          "group by run_id, path", list(ids))
    assert len(attempts) == 4 * len(ids) and {count for *_, count in attempts} == {1}


def test_the_celery_mode_refuses_to_start_without_postgresql_and_redis():
    env = deployment_env(WORKFLOW_EXECUTION="celery", DATABASE_URL=None, REDIS_URL=None)
    done = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured: WORKFLOW_EXECUTION=celery needs DATABASE_URL=postgres://" in message
    assert "REDIS_URL=redis://" in message
    done = subprocess.run([sys.executable, "-m", "celery", "-A", "builder", "worker"], cwd=ROOT,
                          env=deployment_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "WORKFLOW_EXECUTION is 'embedded'" in done.stderr


def test_a_run_that_cannot_be_enqueued_fails_at_once_saying_why(cluster_env, cluster_db):
    """Redis unreachable when a run starts: the run ends failed, not queued forever."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    web = Daphne({**cluster_env, "REDIS_URL": f"redis://127.0.0.1:{closed}/0"}, timeout=30).require_started()
    try:
        async def scenario():
            client = await login(web.base, "ann", "ann-password")
            run_id = await _start(client, web.base, RELAY.replace("relay", "unsent"), {})
            for _ in range(100):
                run = (await client.get(f"/api/runs/{run_id}")).json()
                if run["status"] != "queued":
                    break
                await asyncio.sleep(0.1)
            await client.aclose()
            return run

        run = asyncio.run(scenario())
    finally:
        web.stop()
    assert run["status"] == "failed" and "could not reach the queue of runs (REDIS_URL)" in run["error"]
    assert cluster_db("select count(*) from builder_steprun where run_id = %s", run["id"]) == [(0,)]


def test_runs_go_on_after_the_database_dropped_the_workers_connection(cluster, cluster_db):
    """A worker keeps its database connection between runs; one the server closed meanwhile
    (a PostgreSQL restart, an idle timeout) is replaced, not used by the next run."""
    worker, web_a, _ = cluster
    dbname = cluster_db("select current_database()")[0][0]

    async def one_run(label: str):
        client = await login(web_a.base, "ann", "ann-password")
        run_id = await _start(client, web_a.base, RELAY.replace("relay", label).replace("seconds: 0.4", "seconds: 0"),
                              {"n": 1})
        run = await until_ended(client, run_id, 10)
        await client.aclose()
        return run

    assert asyncio.run(one_run("before"))["status"] == "succeeded"
    dropped = cluster_db("select pg_terminate_backend(pid) from pg_stat_activity "
                         "where datname = %s and pid <> pg_backend_pid()", dbname)
    assert dropped  # the worker's connection, at least
    run = asyncio.run(one_run("after"))
    assert run["status"] == "succeeded" and run["outputs"] == {"total": 12}, run


QUIET = """name: quiet
steps:
  - {id: pause, uses: wait, with: {seconds: 6.5, value: 1}}
"""


def test_a_monitor_stays_connected_through_a_step_longer_than_five_quiet_seconds(cluster, cluster_db):
    """channels_redis waits 5 s per blocking read: the Redis client's socket timeout must be longer,
    or every consumer that hears nothing for 5 s dies (1011) and the monitor has to reconnect."""
    worker, web_a, web_b = cluster

    async def scenario():
        client = await login(web_b.base, "ann", "ann-password")
        run_id = await _start(client, web_b.base, QUIET, {})
        async with websockets.connect(f"ws://127.0.0.1:{web_b.port}/ws/runs/{run_id}/",
                                      additional_headers=ws_headers(client, web_b.base)) as ws:
            frames = []
            while not any(e.get("type") == "run.finished" for f in frames for e in f.get("events", [])):
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
        await client.aclose()
        return frames

    frames = asyncio.run(scenario())  # a socket closed by the server raises ConnectionClosedError here
    assert frames[-1]["events"][-1]["status"] == "succeeded"
