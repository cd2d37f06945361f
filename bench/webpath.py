"""Web path benchmark: POST start → ``run.finished`` on a websocket, against the same run in-process.

Run: ``python bench/webpath.py`` (``--rounds 9``). A real daphne server (embedded mode, SQLite)
and a personal API token (Bearer, as a script would). Two workflows: one ``wait 0`` step, and
a parallel block of 100 such branches. Each round, interleaved, measures:

- in-process: ``Runner.run`` on a plan made beforehand, with a sink that keeps every event
  (and, apart, load + plan of the same YAML: the server does both for each run);
- web (list socket): ``ws/workflows/`` open beforehand; from the POST until the run's
  ``run.status`` with its final status arrives (sent with ``run.finished``);
- web (run socket): from the POST until ``run.finished`` (or a final snapshot) arrives on
  ``ws/runs/<id>/``, opened once the POST answered (what the monitor does);
- the server's CPU time (user + system, every thread) for the list-socket round: what the web
  path costs the server, far less noisy than wall times on a shared machine (10 ms ticks).

Then the server-side split of the web path, from the run row's own times: POST → row created
(``created_at``), row → engine start (``started_at``), engine finish (``finished_at``) →
the client's receipt. Medians over the rounds. Also the size of a ``GET /api/runs/`` page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.streaming import bench_server, cpu_seconds, login  # noqa: E402

ONE = "name: web-one\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0, value: 1}}\n"
WIDE = "name: web-wide\nsteps:\n  - id: fan\n    parallel:\n" + "".join(
    f"      - {{id: b{i}, uses: wait, with: {{seconds: 0, value: {i}}}}}\n" for i in range(100))


def make_token(env) -> str:
    code = ("from django.contrib.auth.models import User; from builder.tokens import make; "
            "print(make(User.objects.get(username='bench'), 'bench')[1])")
    out = subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", code], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout.split()[-1]


async def in_process(text: str) -> tuple[float, float]:
    """(run seconds, load + plan seconds) of one run in this process, every event kept."""
    import engine

    started = time.perf_counter()
    planned = engine.plan(engine.load(text, "w.yaml"), engine.default_registry())
    loaded = time.perf_counter() - started
    sink = engine.ListSink()
    runner = engine.Runner(engine.default_registry(), engine.EngineSettings(warm_pool=False))
    started = time.perf_counter()
    await runner.run(planned, {}, sink, run_id="1")
    ran = time.perf_counter() - started
    runner.close()
    assert sink.events[-1].type == "run.finished" and sink.events[-1].status == "succeeded", sink.events[-1]
    return ran, loaded


class ListSocket:
    """``ws/workflows/``: the owner's runs starting and ending, open for the whole benchmark."""

    def __init__(self, ws):
        self.ws, self.ended = ws, {}
        self.task = asyncio.create_task(self._read())

    async def _read(self):
        async for raw in self.ws:
            data = json.loads(raw)
            if data.get("type") == "run.status" and data["status"] not in ("running", "queued"):
                self.ended[data["run_id"]] = time.time()

    async def ended_at(self, run_id: int) -> float:
        while run_id not in self.ended:
            await asyncio.sleep(0.0005)
        return self.ended.pop(run_id)


async def post_run(client, workflow_id: int) -> tuple[float, int]:
    t0 = time.time()
    answer = await client.post(f"/api/workflows/{workflow_id}/runs", json={})
    assert answer.status_code == 201, answer.text
    return t0, answer.json()["id"]


async def via_list(client, listen: ListSocket, workflow_id: int) -> tuple[float, int, float]:
    t0, run_id = await post_run(client, workflow_id)
    ended = await listen.ended_at(run_id)
    return ended - t0, run_id, ended


async def via_run_socket(client, port: int, cookie: str, workflow_id: int) -> float:
    t0, run_id = await post_run(client, workflow_id)
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/runs/{run_id}/",
                                  additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"}) as ws:
        while True:
            data = json.loads(await ws.recv())
            if data["type"] == "snapshot" and data["run"]["status"] not in ("queued", "running"):
                break
            if data["type"] == "events" and any(e["type"] == "run.finished" for e in data["events"]):
                break
    return time.time() - t0


def iso(value: str | None) -> float | None:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp() if value else None


async def main(rounds: int) -> None:
    env, tmp, proc, port = bench_server()
    base = f"http://127.0.0.1:{port}"
    token = make_token(env)
    auth = {"Authorization": f"Bearer {token}"}
    results: dict[str, dict[str, list[float]]] = {}
    try:
        async with httpx.AsyncClient(base_url=base, headers=auth, timeout=60) as client:
            ids = {}
            for name, text in (("one step", ONE), ("100-branch parallel", WIDE)):
                created = await client.post("/api/workflows/", json={"yaml": text})
                assert created.status_code == 201, created.text
                ids[name] = (created.json()["id"], text)
            # the sockets log in with a session (the browser's way); the API calls use the token
            session = await login(base)
            cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
            await session.aclose()
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/workflows/",
                                          additional_headers={"Cookie": cookie, "Origin": base})
            listen = ListSocket(ws)
            for name, (workflow_id, text) in ids.items():  # warm both paths once
                await in_process(text)
                await via_run_socket(client, port, cookie, workflow_id)
            for _ in range(rounds):
                for name, (workflow_id, text) in ids.items():
                    figures = results.setdefault(name, {})
                    ran, loaded = await in_process(text)
                    figures.setdefault("in-process run", []).append(ran)
                    figures.setdefault("in-process load + plan", []).append(loaded)
                    cpu = cpu_seconds(proc.pid)
                    wall, run_id, ended = await via_list(client, listen, workflow_id)
                    figures.setdefault("server CPU for the run (list socket)", []).append(cpu_seconds(proc.pid) - cpu)
                    figures.setdefault("web, list socket", []).append(wall)
                    row = (await client.get(f"/api/runs/{run_id}")).json()
                    t0 = ended - wall
                    figures.setdefault("  POST → run row", []).append(iso(row["created_at"]) - t0)
                    figures.setdefault("  run row → engine start", []).append(
                        iso(row["started_at"]) - iso(row["created_at"]))
                    figures.setdefault("  engine start → finish", []).append(
                        iso(row["finished_at"]) - iso(row["started_at"]))
                    figures.setdefault("  engine finish → client", []).append(ended - iso(row["finished_at"]))
                    figures.setdefault("web, run socket", []).append(
                        await via_run_socket(client, port, cookie, workflow_id))
            page = await client.get("/api/runs/")
            page_bytes, page_rows = len(page.content), len(page.json())
            zipped = await client.get("/api/runs/", headers={"Accept-Encoding": "gzip"})
            wire = int(zipped.headers.get("content-length") or len(zipped.content))
            listen.task.cancel()
            await ws.close()
    finally:
        proc.terminate()
        proc.wait(10)
        errors = [line for line in Path(f"{tmp}/daphne.log").read_text().splitlines() if "Error" in line]
        if errors:
            print("server errors:", *errors[:5], sep="\n  ")
    print(f"Web path on a real daphne server (embedded, SQLite), median of {rounds} interleaved rounds, ms")
    for name, figures in results.items():
        med = {k: statistics.median(v) * 1000 for k, v in figures.items()}
        print(f"  {name}:")
        for key, value in med.items():
            print(f"    {key:28s} {value:8.1f}")
        base_ms = med["in-process run"]
        for key in ("web, list socket", "web, run socket"):
            if key in med:
                print(f"    {key} - in-process run: +{med[key] - base_ms:.1f} ms"
                      f" (+{med[key] - base_ms - med['in-process load + plan']:.1f} beyond load + plan)")
    print(f"  GET /api/runs/: {page_bytes:,} bytes for {page_rows} runs ({page_bytes / max(page_rows, 1):.0f} a run;"
          f" {wire:,} bytes on the wire with gzip asked)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.rounds))
