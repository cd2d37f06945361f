"""What the cluster benchmarks share: the processes (workers, daphne), logging in, making and
starting runs, websocket addresses, and the figures' wording."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import ROOT, Daphne  # noqa: E402

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/" + os.environ.get("BENCH_REDIS_DB", "13")
CLIENTS = 8  # concurrent HTTP clients starting runs, each logged in as a user of its own
USERS = {f"bench{i}": "bench-password" for i in range(CLIENTS)}
PASSWORD = "bench-password"
SMALL = ("name: small\nsteps:\n  - id: par\n    parallel:\n"
         + "".join(f"      - {{id: w{i}, uses: wait, with: {{seconds: 0.01}}}}\n" for i in range(4)))
ONE_STEP = "name: one-step\nsteps:\n  - {id: only, uses: wait, with: {seconds: 0}}\n"
CRASH = ("name: crash\nsteps:\n  - id: each\n    foreach: " + json.dumps(list(range(50)))
         + "\n    concurrency: 2\n    steps:\n      - {id: w, uses: wait, with: {seconds: 0.2}}\n")
CLOSED_1011: list = []  # websockets daphne closed with 1011 (explained at the end)
STARTED: list = []  # every Daphne and Worker started, stopped at the end whatever happens


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f}"


class Worker:
    """``python -m celery -A builder worker``, started once it says it is ready; ``host``: run
    it under ``unshare -u`` with that host name (a worker as if on another machine)."""

    def __init__(self, env: dict, name: str, host: str | None = None, concurrency: int = 8):
        self.env, self.name, self.host = env, name, host
        command = [sys.executable, "-m", "celery", "-A", "builder", "worker", "-n", f"{name}@%h",
                   "-c", str(concurrency), "--loglevel=INFO", "--without-mingle", "--without-gossip",
                   "--without-heartbeat"]
        if host:
            command = ["unshare", "-u", "sh", "-c", f'hostname {host} && exec "$0" "$@"', *command]
        self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        STARTED.append(self)
        self.output: list[str] = []
        deadline, ready = time.monotonic() + 60, False
        while time.monotonic() < deadline and not ready:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.output.append(line)
            ready = bool(re.search(rf"{re.escape(name)}@\S+ ready\.", line))
        self.cpu_ready = cpu_seconds(self.proc.pid) if ready else 0.0  # what starting it cost
        if not ready:
            self.stop()
            raise RuntimeError(f"worker {name} did not start:\n" + "".join(self.output[-30:]))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.output.append(line)
            del self.output[:-200]

    def stop(self, grace: float = 15):
        if self.proc.poll() is None:
            self.proc.terminate()  # warm shutdown: idle workers stop at once
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def workers(env: dict, names: list[str], hosts: list[str | None] | None = None) -> list[Worker]:
    """Start several workers at once (each takes a few seconds to be ready)."""
    hosts = hosts or [None] * len(names)
    found: list = [None] * len(names)

    def start(i):
        found[i] = Worker(env, names[i], hosts[i])

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(names))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if None in found:
        raise RuntimeError("a worker did not start (see above)")
    return found


def web(env: dict) -> Daphne:
    server = Daphne(env, timeout=60)
    STARTED.append(server)
    return server.require_started()


async def login(base: str, user: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=60)
    await client.get("/login/")
    answer = await client.post("/login/", data={"username": user, "password": PASSWORD,
                                                "csrfmiddlewaretoken": client.cookies["csrftoken"]},
                               headers={"Referer": base + "/login/"})
    assert answer.status_code == 302, answer.text[:500]
    client.headers.update({"X-CSRFToken": client.cookies["csrftoken"], "Referer": base})
    return client


NAMES = iter(range(1, 1 << 30))


async def create(client, yaml: str) -> int:
    """A new workflow of that YAML, under a name of its own (a user's names are unique)."""
    yaml = yaml.replace("name: ", f"name: b{next(NAMES)}-", 1)
    answer = await client.post("/api/workflows/", json={"yaml": yaml, "message": "bench"})
    assert answer.status_code == 201, answer.text[:500]
    return answer.json()["id"]


async def start(client, workflow_id: int) -> int:
    answer = await client.post(f"/api/workflows/{workflow_id}/runs", json={})
    assert answer.status_code == 201, answer.text[:500]
    return answer.json()["id"]


def ws_url(server: Daphne, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}/ws/{path}"


def ws_headers(client, server: Daphne) -> dict:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items()), "Origin": server.base}


def stats(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):6.1f} ms, p90 {p90:6.1f} ms"


# -- 1. throughput ----------------------------------------------------------------------------
