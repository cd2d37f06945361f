"""SIGTERM stops a real server within seconds while runaway ``python`` steps run, leaving no
worker process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import pytest

from tests.builder.test_server import Server, login, manage
from tests.procs import cpu_seconds, descendants

F = "tests.security.python_functions"


@pytest.fixture
def env(tmp_path, new_database):
    env = {**os.environ, **new_database(tmp_path), "DJANGO_DEBUG": "0",
           "WORKFLOW_PYTHON_ALLOWED": f"engine.functions.*,{F}:*", "WORKFLOW_PYTHON_WORKERS": "2"}
    manage(env, "migrate", "-v0")
    manage(env, "shell", "-c", "from django.contrib.auth.models import User; "
                               "User.objects.create_user('ann', password='ann-password')")
    return env


def test_sigterm_stops_the_server_and_its_workers_while_steps_run_away(env, tmp_path):
    server = Server(env)
    pid_files = [tmp_path / "a.pid", tmp_path / "b.pid"]
    try:
        async def start_runaway_run():
            client = await login(server.base, "ann", "ann-password")
            headers = {"X-CSRFToken": client.cookies["csrftoken"], "Referer": server.base}
            yaml = ("name: runaway\nsteps:\n  - id: p\n    parallel:\n" + "".join(
                f'      - {{id: s{i}, uses: python, with: {{function: "{F}:spin", args: ["{path}"]}}}}\n'
                for i, path in enumerate(pid_files)))
            created = await client.post("/api/workflows/", json={"yaml": yaml}, headers=headers)
            assert created.status_code == 201, created.text
            run = await client.post(f"/api/workflows/{created.json()['id']}/runs", json={}, headers=headers)
            assert run.status_code == 201, run.text
            await client.aclose()

        asyncio.run(start_runaway_run())
        deadline = time.monotonic() + 20
        while not all(p.exists() and p.read_text() for p in pid_files) and time.monotonic() < deadline:
            time.sleep(0.05)
        runaway = {int(p.read_text()) for p in pid_files}
        below = descendants(server.proc.pid)
        assert runaway <= below  # the steps run in the server's worker processes, at full speed
        start = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(5)
        except subprocess.TimeoutExpired:
            pytest.fail("the server was still running 5 s after SIGTERM")
        stopped = time.monotonic() - start
        deadline = time.monotonic() + 2  # the fork server, idle, ends once it sees the server gone
        while (left := {pid for pid in below if cpu_seconds(pid) is not None}) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, f"left running after the server stopped in {stopped:.1f} s: {sorted(left)}"
        assert stopped < 5
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(5)
