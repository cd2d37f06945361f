"""A foreach spread over the workers (builder/distribute.py), with real celery workers,
PostgreSQL and Redis: the same results as in one process, the block's concurrency held across
every worker, its failure policy unchanged, live progress, and a chunk's worker killed with
``kill -9`` replaced without running a finished item again.

Each item is a ``python`` step that records when it ran and in which processes (``span`` in
tests/cluster/functions.py), so the tests see what really happened, not only the run's rows.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.stats import most_at_once
from tests.cluster import functions
from tests.cluster.conftest import serving, side_effects_env, workers_side_by_side
from tests.cluster.test_takeover import Api, _ended, _pid, _rows, _until

CHUNK = 10

SPREAD = """name: NAME
inputs:
  tag: {type: string}
  items: {type: array}
  delay: {type: number, default: 0.05}
  fail: {type: integer, default: -1}
  pause: {type: number, default: 0}
steps:
  - {id: base, uses: wait, with: {seconds: 0, value: 1000}}
  - id: each
    foreach: ${inputs.items}
    as: n
    concurrency: 4
    on_error: ON_ERROR
    distribute: DISTRIBUTE
    steps:
      - id: rec
        uses: python
        with: {function: "tests.cluster.functions:span", args: ["${inputs.tag}", "${n}", "${inputs.delay}", "${inputs.fail}"]}
      - {id: plus, uses: wait, with: {seconds: "${inputs.pause}", value: "${rec + base + loop.index}"}}
outputs:
  each: ${each}
"""


def _yaml(name: str, distribute: bool, on_error: str = "fail_fast") -> str:
    return (SPREAD.replace("NAME", name).replace("DISTRIBUTE", "true" if distribute else "false")
            .replace("ON_ERROR", on_error))


@pytest.fixture(scope="module")
def env(cluster_env):
    return side_effects_env(cluster_env, f"CREATE TABLE IF NOT EXISTS {functions.SPANS} (tag text, item int, "
                            "pids int[], start double precision, stop double precision)",
                            WORKFLOW_PYTHON_WORKERS="4", WORKFLOW_LEASE_SECONDS="6",
                            WORKFLOW_DISTRIBUTE_CHUNK=str(CHUNK))


@pytest.fixture(scope="module")
def web(env):
    yield from serving(env)


@pytest.fixture(scope="module")
def workers(env):
    yield from workers_side_by_side(env, [f"wf-spread-{n}" for n in (1, 2)])


def _spans(db, tag: str) -> dict[int, list[tuple]]:
    found: dict[int, list[tuple]] = {}
    for item, pids, start, stop in db(f"SELECT item, pids, start, stop FROM {functions.SPANS} WHERE tag = %s "
                                      "ORDER BY start", tag):
        found.setdefault(item, []).append((pids, start, stop))
    return found


def _most_at_once(spans: dict) -> int:
    return most_at_once([(start, stop) for calls in spans.values() for _, start, stop in calls])


def _run(api, db, name: str, yaml: str, items, delay: float, fail: int = -1, pause: float = 0):
    if name not in api.workflows:
        made = api.post("/api/workflows/", {"yaml": yaml})
        assert made.status_code == 201, made.text
        api.workflows[name] = made.json()["id"]
    import uuid

    tag = uuid.uuid4().hex
    started = api.post(f"/api/workflows/{api.workflows[name]}/runs",
                       {"inputs": {"tag": tag, "items": list(items), "delay": delay, "fail": fail, "pause": pause}})
    assert started.status_code == 201, started.text
    return started.json()["id"], tag


def test_a_spread_foreach_gives_the_results_of_one_process_under_one_cap_on_both_workers(web, workers, cluster_db):
    api = Api(web.base)
    items = 60
    results = {}
    for distribute in (False, True):
        name = f"spread-{str(distribute).lower()}"
        began = time.monotonic()
        run_id, tag = _run(api, cluster_db, name, _yaml(name, distribute), range(items), 0.05)
        assert _ended(cluster_db, run_id, 60) == "succeeded"
        took = time.monotonic() - began
        [(outputs, summary)] = cluster_db("SELECT outputs, summary FROM builder_run WHERE id = %s", run_id)
        spans = _spans(cluster_db, tag)
        results[distribute] = (outputs, spans, run_id, took, summary)
    local, spread = results[False], results[True]
    assert spread[0] == local[0] == {"each": [i * 3 + 1000 + i for i in range(items)]}
    spans, run_id = spread[1], spread[2]
    assert sorted(spans) == list(range(items)) and all(len(calls) == 1 for calls in spans.values()), \
        "every item ran exactly once"
    most = _most_at_once(spans)
    assert most <= 4, f"{most} items ran at once; the block's concurrency is 4"
    ran = {w.name for w in workers for calls in spans.values() for pids, _, _ in calls if w.proc.pid in pids}
    assert len(ran) == 2, f"both workers ran items: {ran}"
    # the run's rows are the same as in one process: one attempt per item step, all succeeded
    rows = _rows(cluster_db, run_id, "each[%")
    assert len(rows) == items * 2 and all(r == [(1, "succeeded", "")] for r in rows.values())
    progress = cluster_db("SELECT data FROM builder_runevent WHERE run_id = %s AND type = 'foreach.progress' "
                          "ORDER BY seq", run_id)
    done = [data["done"] for (data,) in progress]
    assert done == sorted(done) and done[-1] == items and progress[-1][0]["total"] == items
    assert spread[4]["action_steps"] == items * 2 + 1
    print(f"\nspread foreach: {items} items of 0.05 s, concurrency 4, chunks of {CHUNK}: "
          f"{spread[3]:.2f} s spread over 2 workers against {local[3]:.2f} s in the run's process; "
          f"at most {most} at once; {len(progress)} progress events stored")


def test_fail_fast_stops_a_spread_foreach_with_the_error_of_one_process(web, workers, cluster_db):
    api = Api(web.base)
    errors = {}
    for distribute in (False, True):
        name = f"spread-fails-{str(distribute).lower()}"
        run_id, tag = _run(api, cluster_db, name, _yaml(name, distribute), range(200), 0.05, fail=7)
        assert _ended(cluster_db, run_id, 60).startswith("failed")
        [(error,)] = cluster_db("SELECT error FROM builder_run WHERE id = %s", run_id)
        spans = _spans(cluster_db, tag)
        errors[distribute] = error
        assert len(spans) < 150, f"{len(spans)} of 200 items ran: fail_fast did not stop the block"
        left = cluster_db("SELECT path, attempt FROM builder_steprun WHERE run_id = %s AND status = 'running'", run_id)
        assert left == [], (distribute, left)
    assert errors[True] == errors[False]
    assert "each[7].rec" in errors[True] and "item 7 refuses" in errors[True]


def test_continue_keeps_going_and_gives_null_for_the_failed_item(web, workers, cluster_db):
    api = Api(web.base)
    name = "spread-continues"
    run_id, tag = _run(api, cluster_db, name, _yaml(name, True, "continue"), range(30), 0.01, fail=3)
    assert _ended(cluster_db, run_id, 60) == "succeeded"
    [(outputs,)] = cluster_db("SELECT outputs FROM builder_run WHERE id = %s", run_id)
    assert outputs == {"each": [None if i == 3 else i * 3 + 1000 + i for i in range(30)]}


def test_a_chunk_worker_killed_mid_run_its_items_go_on_elsewhere_and_no_finished_item_runs_again(
        web, workers, cluster_db):
    api = Api(web.base)
    items = 120
    name = "spread-killed"
    # half of each item in its second step: the kill leaves items whose first step ended
    run_id, tag = _run(api, cluster_db, name, _yaml(name, True), range(items), 0.1, pause=0.1)
    [coordinator] = _until(lambda: [w for w in workers if (cluster_db(
        "SELECT lease_owner FROM builder_run WHERE id = %s", run_id)[0][0] or ":0:").split(":")[1] == str(w.proc.pid)],
        20, "a worker runs the run")
    [victim] = [w for w in workers if w is not coordinator]
    _until(lambda: sum(1 for calls in _spans(cluster_db, tag).values() for pids, _, _ in calls
                       if victim.proc.pid in pids) >= 5, 60, "the other worker ran items of a chunk")
    victim.proc.kill()
    killed = time.time()
    victim.proc.wait(5)
    assert _ended(cluster_db, run_id, 90) == "succeeded"
    [(outputs, worker)] = cluster_db("SELECT outputs, worker FROM builder_run WHERE id = %s", run_id)
    assert _pid(worker) == coordinator.proc.pid
    assert outputs == {"each": [i * 3 + 1000 + i for i in range(items)]}
    spans = _spans(cluster_db, tag)
    assert sorted(spans) == list(range(items))
    rows = _rows(cluster_db, run_id, "each[%].rec")
    twice = {i for i, calls in spans.items() if len(calls) > 1}
    interrupted = {path for path, r in rows.items() if len(r) > 1}
    for path, r in rows.items():
        if len(r) > 1:  # running when its worker died: attempt 1 interrupted, attempt 2 succeeded
            assert r[0][:2] == (1, "failed") and r[0][2].startswith("interrupted") and r[1] == (2, "succeeded", ""), r
        else:
            assert r == [(1, "succeeded", "")], (path, r)
    assert {f"each[{i}].rec" for i in twice} <= interrupted, "only an interrupted item may run twice"
    # an item whose first step ended before the kill goes on from its second: rec is not run again
    pluses = _rows(cluster_db, run_id, "each[%].plus")
    assert len(pluses) == items
    for path, r in pluses.items():
        assert r == [(1, "succeeded", "")] or (r[0][:2] == (1, "failed") and r[1] == (2, "succeeded", "")), (path, r)
    resumed_items = {p for p, r in pluses.items() if len(r) > 1}
    assert all(len(calls) <= 2 for calls in spans.values())
    # the killed worker's python pool dies with it, a moment later: a call ending in that moment
    # is an interrupted item's (run again as attempt 2), never later than that moment
    late = {i: stop - killed for i, calls in spans.items() for pids, _, stop in calls
            if victim.proc.pid in pids and stop > killed}
    assert {f"each[{i}].rec" for i in late} <= interrupted and all(after < 1 for after in late.values()), late
    print(f"\nspread foreach, a chunk worker killed: {len(interrupted) + len(resumed_items)} item steps interrupted "
          f"and run again as attempt 2 ({len(resumed_items)} of them second steps, their items' first step not run "
          f"again); {len(twice)} items ran twice")


async def test_without_redis_a_spread_foreach_fails_saying_why_and_the_run_ends(settings):
    """No Redis to spread the items through: the block fails with the reason, the run ends."""
    import engine
    from builder.distribute import Distributor

    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    text = ("name: no-redis\nsteps:\n  - id: each\n    foreach: [1, 2, 3]\n    distribute: true\n"
            "    steps:\n      - {id: w, uses: wait, with: {seconds: 0}}\n")
    runner = engine.Runner(services={"distribute": Distributor(1)})
    result = await asyncio.wait_for(runner.run(engine.plan(engine.load(text), runner.registry), {}), 20)
    assert result.status == "failed"
    assert result.error.startswith("each: spreading the items over the workers failed: ConnectionError"), result.error
