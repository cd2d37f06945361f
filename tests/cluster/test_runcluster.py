"""``manage.py runcluster`` (``make run-cluster``): daphne and two celery workers come up
against the database and Redis of the environment, serve a run, and Ctrl+C stops them all."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time

from tests.builder.test_server import login
from tests.servers import ROOT, until_ended

SMALL = """name: small
steps:
  - id: only
    uses: wait
    with: {seconds: 0, value: 7}
outputs:
  seven: ${only}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_runcluster_serves_runs_on_its_workers_and_ctrl_c_stops_every_process(cluster_env):
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "runcluster", "--port", "0", "--llm-port", str(_free_port()), "--no-demo",
         "--grace", "15"],
        cwd=ROOT, env=cluster_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    pids: dict[str, int] = {}
    port = None
    ready: set[str] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (port and ready == {"worker1", "worker2"}):
            line = cluster.stdout.readline()
            if not line:
                break
            lines.append(line)
            if started := re.search(r"started (\w+) \(pid (\d+)\)", line):
                pids[started.group(1)] = int(started.group(2))
            if listening := re.search(r"web \| Listening on TCP address [\d.]+:(\d+)", line):
                port = int(listening.group(1))
            if worker := re.search(r"(worker\d)@\S+ ready\.", line):
                ready.add(worker.group(1))
        assert port and ready == {"worker1", "worker2"}, "".join(lines[-40:])
        assert set(pids) == {"web", "worker1", "worker2", "llm"}

        async def one_run():
            base = f"http://127.0.0.1:{port}"
            client = await login(base, "ann", "ann-password")
            headers = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": base}
            wf = (await client.post("/api/workflows/", json={"yaml": SMALL}, headers=headers)).json()["id"]
            run_id = (await client.post(f"/api/workflows/{wf}/runs", json={}, headers=headers)).json()["id"]
            run = await until_ended(client, run_id, 10)
            await client.aclose()
            return run

        run = asyncio.run(one_run())
        assert run["status"] == "succeeded" and run["outputs"] == {"seven": 7} and run["mode"] == "celery"

        cluster.send_signal(signal.SIGINT)  # what Ctrl+C in its terminal does
        rest, _ = cluster.communicate(timeout=40)
        assert cluster.returncode == 0, rest
        assert "cluster | stopped" in rest and "Warm shutdown" in rest
        assert not [name for name, pid in pids.items() if _alive(pid)]
    finally:
        if cluster.poll() is None:
            cluster.kill()
            cluster.wait()
        for pid in pids.values():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
