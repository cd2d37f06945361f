"""Against a real daphne server: hostile expressions in a run never freeze other requests.

Runs go on in the server's own event loop, so an expression whose safety check walked a
whole value (``${len([[0]*100000]*5000)}`` took 16 s) froze every request of every user.
Here a run evaluates the worst expressions we know in parallel branches, plus the heaviest
ones still allowed, while another client keeps asking the API; each answer must come within
200 ms, and the hostile steps must fail with a clear "too large" error.
"""

import asyncio
import os
import statistics
import time

import pytest

from tests.builder.test_server import Server, login, manage

LIMIT = 0.200  # seconds: what the issue asks of a request made during a hostile run

HOSTILE = [
    "len([[0]*100000]*5000)",
    "'%099999999d' % 1",
    "len([[[0]*1000]*1000]*1000)",
    "len(str([[0]*100000]*5000))",
    "len('ab' * 10 ** 9)",
    "9 ** 9 ** 9",
]
#: allowed, but as heavy as an expression may be (it works up to the work budget)
HEAVY = "len(str([0] * 99999)) + len(str([1] * 40000))"
ITEMS = 30


def workflow_yaml() -> str:
    branches = []
    for n, expr in enumerate(HOSTILE + [HEAVY]):
        branches.append(f"""      - id: b{n}
        foreach: "${{[0] * {ITEMS}}}"
        concurrency: 1
        on_error: continue
        steps:
          - {{id: pause{n}, uses: wait, with: {{seconds: 0.1}}}}
          - {{id: e{n}, uses: wait, with: {{seconds: 0, value: "${{{expr}}}"}}}}""")
    return "name: hostile-expressions\nsteps:\n  - id: hostile\n    on_error: wait_all\n    parallel:\n" + \
        "\n".join(branches) + "\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory, new_database):
    env = {**os.environ, **new_database(tmp_path_factory.mktemp("exprserver")), "DJANGO_DEBUG": "0",
           "DJANGO_SECRET_KEY": "test-" + "k" * 60, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    manage(env, "migrate", "-v0")
    manage(env, "shell", "-c", "from django.contrib.auth.models import User; "
                               "User.objects.create_user('eve', password='eve-password')")
    server = Server(env)
    yield server
    server.stop()


async def timed_get(client, url) -> float:
    start = time.perf_counter()
    response = await client.get(url)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200
    return elapsed


async def test_hostile_expressions_do_not_freeze_other_requests(server):
    eve = await login(server.base, "eve", "eve-password")
    other = await login(server.base, "eve", "eve-password")  # the concurrent user's own connection
    headers = {"X-CSRFToken": eve.cookies["csrftoken"], "Referer": server.base}
    created = await eve.post("/api/workflows/", json={"yaml": workflow_yaml(), "message": "hostile"},
                             headers=headers)
    assert created.status_code == 201, created.text
    wf = created.json()["id"]

    for _ in range(5):  # warm up, then the latency of the same request with nothing running
        await timed_get(other, "/api/workflows/")
    idle = [await timed_get(other, "/api/workflows/") for _ in range(20)]

    started = await eve.post(f"/api/workflows/{wf}/runs", json={}, headers=headers)
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    busy, status, deadline = [], "queued", time.monotonic() + 120
    while status in ("queued", "running") and time.monotonic() < deadline:
        busy.append(await timed_get(other, "/api/workflows/"))
        status = (await other.get(f"/api/runs/{run_id}?items=false")).json()["status"]
        await asyncio.sleep(0.01)
    assert status in ("succeeded", "failed"), status  # each foreach goes on past its failed items

    p50, worst = statistics.median(busy), max(busy)
    print(f"\nconcurrent GET /api/workflows/ during hostile expressions: {len(busy)} requests, "
          f"p50 {p50 * 1000:.1f} ms, max {worst * 1000:.1f} ms "
          f"(idle: p50 {statistics.median(idle) * 1000:.1f} ms, max {max(idle) * 1000:.1f} ms)")
    assert len(busy) >= 10, "the run ended before it could be measured"
    # the bound; a noisy machine may add to both measurements alike, so the bound
    # grows by what the same request took at worst with nothing running
    assert worst < LIMIT + max(0.0, max(idle) - 0.05), (worst, max(idle))

    rows = (await other.get(f"/api/runs/{run_id}/steps?limit=1000")).json()
    errors = {}
    for row in rows:
        for n in range(len(HOSTILE) + 1):
            if row["path"].endswith(f".e{n}") and row["error"]:
                errors.setdefault(n, row["error"])
    for n, expr in enumerate(HOSTILE):
        assert "too large" in errors.get(n, ""), (expr, errors.get(n))
    assert len(HOSTILE) not in errors, errors.get(len(HOSTILE))  # the heavy but allowed one succeeds
    await eve.aclose()
    await other.aclose()
