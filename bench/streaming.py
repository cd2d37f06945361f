"""Streaming benchmark: a real daphne server, a 10000-item foreach, 20 websocket watchers.

Run: ``python bench/streaming.py`` (``--items 2000`` for a shorter run). Prints the run's
wall time with 20 watchers against the same run with none, messages per client, the
latency from a step's finish to the clients' receipt (p50/p99), and database rows a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]


def workflow(items: int) -> str:
    # the first second lets the watchers connect before the foreach starts
    return (f"name: stream-bench\nsteps:\n  - {{id: src, uses: wait, with: {{seconds: 1, value: {list(range(items))}}}}}\n"
            "  - id: each\n    foreach: ${src}\n    concurrency: 200\n    steps:\n"
            "      - {id: w, uses: wait, with: {seconds: 0.001}}\n")


def start_server(env, log_path: str) -> tuple[subprocess.Popen, int]:
    """daphne on a free port, its output in a file (a pipe nobody reads would stall it)."""
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "daphne", "-e", "tcp:0:interface=127.0.0.1",
                             "builder.asgi:application"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"Listening on TCP address [\d.]+:(\d+)", Path(log_path).read_text())
        if match:
            return proc, int(match.group(1))
        time.sleep(0.1)
    raise RuntimeError("daphne did not start: " + Path(log_path).read_text()[-2000:])


def bench_server() -> tuple[dict, str, subprocess.Popen, int]:
    """A fresh database with the user ``bench`` and a daphne server on it: (env, tmp, proc, port)."""
    tmp = tempfile.mkdtemp()
    env = {**os.environ, "SQLITE_PATH": f"{tmp}/bench.sqlite3", "DJANGO_DEBUG": "0",
           "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)}
    manage = [sys.executable, "manage.py"]
    subprocess.run(manage + ["migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(manage + ["shell", "-c", "from django.contrib.auth.models import User; "
                             "User.objects.create_user('bench', password='bench-password')"],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    proc, port = start_server(env, f"{tmp}/daphne.log")
    return env, tmp, proc, port


async def login(base: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=60)
    await client.get("/login/")
    await client.post("/login/", data={"username": "bench", "password": "bench-password",
                                       "csrfmiddlewaretoken": client.cookies["csrftoken"]},
                      headers={"Referer": base + "/login/"})
    return client


async def watch(port: int, run_id: int, cookie: str, base: str, latencies: list, counts: list) -> None:
    """One watcher: keeps each frame with its receipt time; parses them after the run."""
    received: list[tuple[float, str]] = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/runs/{run_id}/", max_size=None,
                                  additional_headers={"Cookie": cookie, "Origin": base}) as ws:
        while True:
            raw = await ws.recv()
            received.append((time.time(), raw))  # the receipt; parsing waits so it delays no one
            if '"run.finished"' in raw:
                break
            if '"snapshot"' in raw[:40] and json.loads(raw)["run"]["status"] not in ("queued", "running"):
                break
    for now, raw in received:
        data = json.loads(raw)
        if os.environ.get("BENCH_DEBUG") and data.get("events") and len(counts) == 0:
            ts = [e["ts"] for e in data["events"]]
            print(f"frame {len(data['events'])} events: newest {1000 * (now - max(ts)):.0f} ms, "
                  f"oldest {1000 * (now - min(ts)):.0f} ms")
        latencies.extend(now - e["ts"] for e in data.get("events", []) if e["type"] == "step.succeeded")
    counts.append(len(received))


async def one_run(client, base, port, workflow_id, watchers: int):
    headers = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": base}
    start = time.perf_counter()
    run_id = (await client.post(f"/api/workflows/{workflow_id}/runs", json={}, headers=headers)).json()["id"]
    cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    latencies: list[float] = []
    counts: list[int] = []
    tasks = [asyncio.create_task(watch(port, run_id, cookie, base, latencies, counts)) for _ in range(watchers)]
    while True:
        run = (await client.get(f"/api/runs/{run_id}")).json()
        if run["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.05)
    await asyncio.gather(*tasks)
    return run, time.perf_counter() - start, latencies, counts


def cpu_seconds(pid: int) -> float:
    """The server's CPU time so far (less noisy than wall time on a shared machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rows_of(env, run_id: int) -> int:
    code = (f"from builder.models import Run; r = Run.objects.get(pk={run_id}); "
            "print(r.events.count() + r.steps.count())")
    out = subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c", code], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


async def main(items: int, watchers: int) -> None:
    env, tmp, proc, port = bench_server()
    base = f"http://127.0.0.1:{port}"
    try:
        client = await login(base)
        headers = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": base}
        created = await client.post("/api/workflows/", json={"yaml": workflow(items)}, headers=headers)
        workflow_id = created.json()["id"]
        cpu = cpu_seconds(proc.pid)
        alone, alone_e2e, _, _ = await one_run(client, base, port, workflow_id, 0)
        cpu_alone, cpu = cpu_seconds(proc.pid) - cpu, cpu_seconds(proc.pid)
        watched, watched_e2e, latencies, counts = await one_run(client, base, port, workflow_id, watchers)
        cpu_watched = cpu_seconds(proc.pid) - cpu
        rows = rows_of(env, watched["id"])
    finally:
        proc.terminate()
        proc.wait(10)
        errors = [line for line in Path(f"{tmp}/daphne.log").read_text().splitlines() if "Error" in line]
        if errors:
            print("server errors:", *errors[:5], sep="\n  ")
    block = lambda run: next(b for b in run["summary"]["blocks"] if b["path"] == "each")  # noqa: E731
    wall_alone = block(alone)["wall_ms"] / 1000
    wall_watched = block(watched)["wall_ms"] / 1000
    lat = sorted(latencies)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else float("nan")  # noqa: E731
    print(f"Streaming a foreach of {items} items (wait 0.001 s, concurrency 200) on a real daphne server")
    print(f"  foreach wall time: {wall_alone:.2f} s with no watcher, {wall_watched:.2f} s with {watchers} watchers"
          f" = {wall_watched / wall_alone:.2f}x (whole run, start to finished seen by the API: {alone_e2e:.2f} s"
          f" / {watched_e2e:.2f} s)")
    print(f"  messages per client: min {min(counts)}, max {max(counts)}, mean {statistics.mean(counts):.0f}"
          f" (the run emitted {watched['last_seq']} events)")
    print(f"  latency step finish -> client receipt over {len(lat)} receipts: p50 {p(0.5):.1f} ms, "
          f"p99 {p(0.99):.1f} ms")
    print(f"  database rows written: {rows} in {wall_watched:.2f} s = {rows / wall_watched:,.0f} rows/s")
    print(f"  server CPU time (user + system, whole run): {cpu_alone:.2f} s with no watcher, {cpu_watched:.2f} s"
          f" with {watchers} watchers")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--watchers", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.items, args.watchers))
