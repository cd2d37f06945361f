"""Webhooks benchmark: requests per second answered 202 with the run queued, against a real
daphne (embedded mode, SQLite, the production settings).

Run: ``python bench/webhooks.py`` (``--requests N``, ``--concurrency C``). ``webhook_rps``
prints the figure for an unsigned and a signed (HMAC) webhook, each against its baseline
measured in the same server: the same requests with an unknown token (404: the token's
lookup, without the run). Every 202 is checked against the runs table afterwards: each one is
a run that exists. The runs go on executing in the same process meanwhile (a ``wait`` step of
0 s), as they would in use. The rate limit is off for the bench (``WORKFLOW_WEBHOOK_RATE=0``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.servers import Daphne, deployment_env, manage, migrated  # noqa: E402

KEY = "bench-hook-key"
HOOKED = """name: hooked
triggers:
  - {id: open, webhook: true, inputs: {payload: "${trigger.body}"}}
  - {id: signed, webhook: true, secret: HOOK_KEY, inputs: {payload: "${trigger.body}"}}
inputs:
  payload: {type: object, default: {}}
steps:
  - {id: only, uses: wait, with: {seconds: 0}}
"""
SETUP = f"""
from django.contrib.auth.models import User
from builder import webhooks
from builder.models import Secret, Trigger
from builder.services import save_workflow
user = User.objects.get(username='bench')
Secret.objects.create(owner=user, name='HOOK_KEY', value={KEY!r})
workflow = save_workflow(user, {HOOKED!r})
for row in Trigger.objects.filter(workflow=workflow):
    print(row.trigger_id + '=' + webhooks.make_token(row))
"""
COUNT = "from builder.models import Run; print(Run.objects.filter(origin='webhook').count())"


def machine() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f}"


async def _fire(base: str, token: str, requests: int, concurrency: int, signed: bool) -> tuple[float, dict, list]:
    """``requests`` POSTs from ``concurrency`` clients: (seconds, answers by status, latencies)."""
    import httpx

    statuses: dict[int, int] = {}
    latencies: list[float] = []
    left = iter(range(requests))

    async def client():
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for n in left:
                raw = json.dumps({"n": n, "ref": "main", "commits": [{"id": n, "message": "fix"}]}).encode()
                headers = {"Content-Type": "application/json"}
                if signed:
                    headers["X-Signature-256"] = "sha256=" + hmac.new(KEY.encode(), raw, hashlib.sha256).hexdigest()
                start = time.perf_counter()
                answer = await http.post(f"/hooks/{token}/", content=raw, headers=headers)
                latencies.append(time.perf_counter() - start)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - start, statuses, latencies


def _line(label: str, seconds: float, statuses: dict, latencies: list, status: int) -> float:
    ok = statuses.get(status, 0)
    latencies = sorted(latencies)
    p95 = latencies[int(len(latencies) * 0.95) - 1] if latencies else 0
    print(f"  {label}: {ok / seconds:.0f} req/s answered {status} ({ok} of {sum(statuses.values())} in "
          f"{seconds:.1f} s; latency median {statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms;"
          f" answers {dict(sorted(statuses.items()))})")
    return ok / seconds


def webhook_rps(requests: int = 500, concurrency: int = 8) -> dict:
    """The figure: webhook requests per second answered 202 with the run queued (embedded daphne)."""
    print(f"webhooks: requests/s answered 202 with the run queued, {concurrency} clients "
          f"(embedded daphne, SQLite; {machine()})")
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = migrated(deployment_env(WORKFLOW_EXECUTION="embedded", SQLITE_PATH=f"{tmp}/hooks.sqlite3",
                                      WORKFLOW_WEBHOOK_RATE="0"), {"bench": "bench-password"})
        done = manage(env, "shell", "-c", SETUP)
        assert done.returncode == 0, done.stderr
        tokens = dict(line.split("=", 1) for line in done.stdout.split() if "=" in line)
        server = Daphne(env, timeout=30).require_started()
        try:
            for signed in (False, True):
                name = "signed" if signed else "open"
                base = asyncio.run(_fire(server.base, "x" * 43, requests, concurrency, signed))
                baseline = _line(f"baseline, unknown token ({'signed' if signed else 'unsigned'})", *base, 404)
                figure = _line(f"{'signed (HMAC-SHA256)' if signed else 'unsigned'} webhook", *asyncio.run(
                    _fire(server.base, tokens[name], requests, concurrency, signed)), 202)
                figures[name] = (figure, baseline)
        finally:
            server.stop()
        done = manage(env, "shell", "-c", COUNT)
        made = int(done.stdout.split()[-1])
        print(f"  runs made by webhooks: {made} (every 202 is a run row, queued when it answered)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    webhook_rps(args.requests, args.concurrency)


if __name__ == "__main__":
    main()
