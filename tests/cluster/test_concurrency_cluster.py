"""Per-workflow concurrency across real celery workers (builder/concurrency.py): runs started
at once through a web process never overlap beyond the limit, whichever worker takes them;
skip and cancel_running; and a worker killed in the middle of the active run does not block
the queue (the other worker takes the run over, and the next one starts after it).

Overlap is measured from the runs' ``work`` step rows (their start and end, written by the
workers). The figures are printed: ``pytest -s`` shows them.
"""

from __future__ import annotations

import signal
import time

import pytest

from engine.stats import most_at_once as engine_most_at_once
from tests.cluster.conftest import serving, workers_side_by_side
from tests.cluster.test_approvals_cluster import Api, until

LEASE_SECONDS = 4

LIMITED = """name: NAME
concurrency: {limit: LIMIT, when_busy: WHEN}
inputs:
  seconds: {type: number, default: 0.4}
steps:
  - {id: work, uses: wait, with: {seconds: "${inputs.seconds}", value: 1}}
finally:
  - {id: cleanup, uses: wait, with: {seconds: 0, value: done}}
"""


def limited(name: str, limit: int = 1, when: str = "queue") -> str:
    return LIMITED.replace("NAME", name).replace("LIMIT", str(limit)).replace("WHEN", when)


@pytest.fixture(scope="module")
def env(cluster_env):
    return {**cluster_env, "WORKFLOW_LEASE_SECONDS": str(LEASE_SECONDS)}


@pytest.fixture(scope="module")
def web(env):
    yield from serving(env)


@pytest.fixture(scope="module")
def workers(env):
    """Two workers of four threads; the kill test (last) kills one."""
    yield from workers_side_by_side(env, ["wf-concurrency-1", "wf-concurrency-2"])


def start_many(api: Api, name: str, yaml: str, count: int, seconds: float) -> list[dict]:
    made = api.post("/api/workflows/", {"yaml": yaml})
    assert made.status_code == 201, made.text
    answers = []
    for _ in range(count):
        started = api.post(f"/api/workflows/{made.json()['id']}/runs", {"inputs": {"seconds": seconds}})
        assert started.status_code == 201, started.text
        answers.append(started.json())
    return answers


def ended(db, run_ids, seconds: float = 60) -> dict[int, str]:
    def check():
        rows = dict(db("SELECT id, status FROM builder_run WHERE id = ANY(%s)", list(run_ids)))
        return rows if all(s not in ("queued", "running", "waiting") for s in rows.values()) else None
    return until(check, seconds, f"runs {list(run_ids)} end")


def most_at_once(db, run_ids) -> int:
    rows = db("SELECT started_at, finished_at FROM builder_steprun WHERE run_id = ANY(%s) AND path = 'work'",
              list(run_ids))
    return engine_most_at_once(rows)


def workers_used(db, run_ids) -> set[int]:
    return {int(w.split(":")[1]) for (w,) in db("SELECT worker FROM builder_run WHERE id = ANY(%s)", list(run_ids))}


def test_limit_1_queue_across_two_workers_never_overlaps(web, workers, cluster_db):
    api = Api(web.base, "ann", "ann-password")
    ids = [a["id"] for a in start_many(api, "one", limited("one"), 6, 0.3)]
    assert set(ended(cluster_db, ids).values()) == {"succeeded"}
    top = most_at_once(cluster_db, ids)
    order = [run_id for (run_id,) in cluster_db(
        "SELECT run_id FROM builder_steprun WHERE run_id = ANY(%s) AND path = 'work' ORDER BY started_at", ids)]
    used = workers_used(cluster_db, ids)
    print(f"\nlimit 1, 6 runs on {len(used)} worker(s): at most {top} at once; order {order}")
    assert top == 1 and order == ids


def test_limit_2_across_two_workers_never_runs_three(web, workers, cluster_db):
    api = Api(web.base, "ann", "ann-password")
    ids = [a["id"] for a in start_many(api, "two", limited("two", 2), 8, 0.3)]
    assert set(ended(cluster_db, ids).values()) == {"succeeded"}
    top = most_at_once(cluster_db, ids)
    print(f"\nlimit 2, 8 runs on {len(workers_used(cluster_db, ids))} worker(s): at most {top} at once")
    assert top == 2


def test_skip_and_cancel_running_on_workers(web, workers, cluster_db):
    api = Api(web.base, "ann", "ann-password")
    first, second = start_many(api, "skipper", limited("skipper", 1, "skip"), 2, 0.5)
    assert second["status"] == "skipped" and "when_busy: skip" in second["error"]
    assert ended(cluster_db, [first["id"]])[first["id"]] == "succeeded"
    old, = start_many(api, "latest", limited("latest", 1, "cancel_running"), 1, 30)
    until(lambda: cluster_db("SELECT 1 FROM builder_steprun WHERE run_id = %s AND path = 'work'", old["id"]), 20,
          "the old run works")
    made = api.http.get("/api/workflows/").json()
    workflow_id = next(w["id"] for w in made if w["name"] == "latest")
    cancelled_at = time.monotonic()
    new = api.post(f"/api/workflows/{workflow_id}/runs", {"inputs": {"seconds": 0.1}}).json()
    statuses = ended(cluster_db, [old["id"], new["id"]])
    print(f"\ncancel_running: the new run ended {time.monotonic() - cancelled_at:.2f} s after it was made")
    assert (statuses[old["id"]], statuses[new["id"]]) == ("cancelled", "succeeded")
    assert cluster_db("SELECT status FROM builder_steprun WHERE run_id = %s AND path = 'cleanup'", old["id"]) == [
        ("succeeded",)], "the cancelled run's finally ran"
    assert most_at_once(cluster_db, [old["id"], new["id"]]) == 1


def test_a_worker_killed_in_the_middle_of_the_active_run_does_not_block_the_queue(web, workers, cluster_db):
    api = Api(web.base, "ann", "ann-password")
    ids = [a["id"] for a in start_many(api, "survivor", limited("survivor"), 3, 3)]

    def holder():
        rows = cluster_db("SELECT worker FROM builder_run WHERE id = %s AND status = 'running'", ids[0])
        return rows and rows[0][0]
    worker_column = until(holder, 20, "the first run runs")
    pid = int(worker_column.split(":")[1])
    victim = next(w for w in workers if w.proc.pid == pid)
    time.sleep(0.5)
    killed = time.monotonic()
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    statuses = ended(cluster_db, ids, seconds=90)
    took = time.monotonic() - killed
    assert [statuses[i] for i in ids] == ["succeeded"] * 3, statuses
    top = most_at_once(cluster_db, ids)
    [(takeovers,)] = cluster_db("SELECT takeovers FROM builder_run WHERE id = %s", ids[0])
    print(f"\nkill -9 of the worker of the active run: the queue of 3 ended {took:.1f} s later; "
          f"takeovers {takeovers}; at most {top} work step(s) at once (the interrupted attempt counted)")
    assert takeovers == 1 and top == 1
    firsts = cluster_db("SELECT run_id, min(started_at) FROM builder_steprun WHERE run_id = ANY(%s) AND path = 'work' "
                        "GROUP BY run_id ORDER BY 2", ids)
    assert [run_id for run_id, _ in firsts] == ids, "first come, first served, also after the takeover"
