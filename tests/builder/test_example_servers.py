"""The examples' local servers as the README starts them: the fake model on a port of one's
choosing (a taken one is said in a line, not a traceback), and url_batch's item server."""

import json
import socket
import subprocess
import sys
import time

from tests.builder.test_cli import ENV, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_fake_model_on_a_taken_port_says_so_in_one_line():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        out = subprocess.run([sys.executable, "examples/fake_llm.py", str(port)], cwd=ROOT, capture_output=True,
                             text=True, timeout=30)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "LLM_PORT=" in out.stderr
    bad = subprocess.run([sys.executable, "examples/fake_llm.py", "eighty"], cwd=ROOT, capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 2 and "must be a number" in bad.stderr and "Traceback" not in bad.stderr


def test_make_run_puts_the_fake_model_beside_the_web_port():
    out = subprocess.run(["make", "-n", "run", "PORT=8001"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert "examples/fake_llm.py 8091" in out.stdout and "-p 8001" in out.stdout
    chosen = subprocess.run(["make", "-n", "run", "PORT=8001", "LLM_PORT=9999"], cwd=ROOT, capture_output=True,
                            text=True, timeout=30)
    assert "examples/fake_llm.py 9999" in chosen.stdout


def test_url_batch_runs_against_the_item_server_as_the_readme_says():
    port = free_port()
    server = subprocess.Popen([sys.executable, "examples/item_server.py", str(port)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert f"http://127.0.0.1:{port}/item/N" in server.stdout.readline()
        env = {**ENV, "WORKFLOW_HTTP_ALLOW": "127.0.0.1"}
        started = time.monotonic()
        out = subprocess.run([sys.executable, "manage.py", "runworkflow", "examples/url_batch.yaml", "--input",
                              f"base=http://127.0.0.1:{port}", "--input", "count=30", "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        data = json.loads(out.stdout)
        assert data["outputs"]["items"] == [{"id": i} for i in range(30)] and time.monotonic() - started < 60
    finally:
        server.terminate()
        server.wait(10)
