"""Against a real daphne process: login, start a run, watch it over a real websocket; recovery."""

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets

from tests.servers import Daphne

ROOT = Path(__file__).resolve().parents[2]


def manage(env, *args):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=120)


class Server(Daphne):
    """daphne with the environment a test gives it; the test fails when it does not start."""

    def __init__(self, env):
        super().__init__(env, timeout=30)
        self.require_started()


@pytest.fixture(scope="module")
def env(tmp_path_factory, new_database):
    env = {**os.environ, **new_database(tmp_path_factory.mktemp("server")), "DJANGO_DEBUG": "0"}
    manage(env, "migrate", "-v0")
    manage(env, "loaddemo", "--username", "ann", "--password", "ann-password")
    manage(env, "shell", "-c", "from django.contrib.auth.models import User; "
                               "User.objects.create_user('ben', password='ben-password')")
    return env


@pytest.fixture(scope="module")
def server(env):
    server = Server(env)
    yield server
    server.stop()


async def login(base, username, password):
    client = httpx.AsyncClient(base_url=base)
    await client.get("/login/")
    response = await client.post("/login/", data={"username": username, "password": password,
                                                  "csrfmiddlewaretoken": client.cookies["csrftoken"]},
                                 headers={"Referer": base + "/login/"})
    assert response.status_code == 302
    return client


def ws_headers(client, base):
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items()), "Origin": base}


async def test_a_run_started_through_the_api_streams_over_a_real_websocket(server):
    client = await login(server.base, "ann", "ann-password")
    workflows = {w["name"]: w for w in (await client.get("/api/workflows/")).json()}
    assert {"batch", "quorum", "fan-out-fan-in"} <= set(workflows)
    headers = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": server.base}
    response = await client.post(f"/api/workflows/{workflows['batch']['id']}/runs", json={}, headers=headers)
    assert response.status_code == 201
    run_id = response.json()["id"]
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws/runs/{run_id}/",
                                  additional_headers=ws_headers(client, server.base)) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first["type"] == "snapshot"
        events = []
        while first["run"]["status"] in ("queued", "running") and (not events or events[-1]["type"] != "run.finished"):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert frame["type"] == "events" and all(e["seq"] > first["seq"] for e in frame["events"])
            events.extend(frame["events"])
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(set(seqs))
    run = (await client.get(f"/api/runs/{run_id}")).json()
    assert run["status"] == "succeeded" and run["outputs"]["count"] == 8
    page = await client.get(f"/runs/{run_id}/")
    assert page.status_code == 200 and "monitor/main.js" in page.text
    await client.aclose()


async def test_another_user_is_refused_over_http_and_websocket(server):
    ann = await login(server.base, "ann", "ann-password")
    wf = next(w for w in (await ann.get("/api/workflows/")).json() if w["name"] == "dag")
    headers = {"X-CSRFToken": ann.cookies["csrftoken"], "Referer": server.base}
    run_id = (await ann.post(f"/api/workflows/{wf['id']}/runs", json={}, headers=headers)).json()["id"]
    ben = await login(server.base, "ben", "ben-password")
    assert (await ben.get(f"/api/runs/{run_id}")).status_code == 404
    assert (await ben.get(f"/runs/{run_id}/")).status_code == 404
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws/runs/{run_id}/",
                                  additional_headers=ws_headers(ben, server.base)) as ws:
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd.code == 4403
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws/runs/{run_id}/",
                                      additional_headers={**ws_headers(ann, server.base),
                                                          "Origin": "http://evil.example"}):
            pass
    await ann.aclose()
    await ben.aclose()


async def test_a_long_refused_query_gets_its_json_answer_not_a_dropped_connection(server):
    """Twisted drops a request line over 16 KiB without a word (and answers a bare 400 past
    16 KiB of headers); the fuzzer's refused queries are longer: daphne takes 128 KiB (asgi.py)."""
    ann = await login(server.base, "ann", "ann-password")
    steps = "\u0080" * 4001  # 24 KB percent-encoded, and one over the parameter's length
    answer = await ann.get("/api/runs/1/items", params={"path": "each", "offset": -1, "steps": steps})
    assert answer.status_code == 422 and answer.headers["content-type"].startswith("application/json")
    assert answer.json()["detail"]
