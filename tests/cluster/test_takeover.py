"""Leases across real processes (builder/leases.py): a worker killed with ``kill -9`` in the
middle of a run, two workers racing for one run, and cancel sent through a web process.

One daphne process and two celery workers for the whole module (the kill test comes last: it
leaves one worker). Each item of the workflows is a ``python`` step whose function records a
side effect in a table of the cluster's database (tests/cluster/functions.py), so the tests
count how many times each item really ran, not only what the run's own rows say. The figures
(cancel latency, takeover time, items run twice) are printed: ``pytest -s`` shows them.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import uuid

import httpx
import pytest

from tests.cluster import functions
from tests.cluster.conftest import Worker, serving, side_effects_env, workers_side_by_side
from tests.procs import cpu_ticks, descendants

LEASE_SECONDS = 6  # takeover passes every 2 s; short for the test, long enough for 2 busy cores

ITEMS = """name: NAME
inputs:
  tag: {type: string}
  items: {type: array}
  delay: {type: number, default: 0.05}
steps:
  - id: each
    foreach: ${inputs.items}
    concurrency: 4
    steps:
      - id: rec
        uses: python
        with: {function: "tests.cluster.functions:record", args: ["${inputs.tag}", "${item}", "${inputs.delay}"]}
outputs:
  each: ${each}
"""

# the kill test's: the foreach of items and, beside it, one slow step (item -1) running in the
# worker's python pool when the worker is killed
FOREACH_AND_SLOW = """name: NAME
inputs:
  tag: {type: string}
  items: {type: array}
  delay: {type: number, default: 0.05}
steps:
  - id: work
    parallel:
      - id: each
        foreach: ${inputs.items}
        concurrency: 4
        steps:
          - id: rec
            uses: python
            with: {function: "tests.cluster.functions:record", args: ["${inputs.tag}", "${item}", "${inputs.delay}"]}
      - id: slow
        uses: python
        with: {function: "tests.cluster.functions:record", args: ["${inputs.tag}", -1, 3]}
outputs:
  each: ${each}
  slow: ${slow}
"""


class Api:
    """A user of one web process, through its HTTP API."""

    def __init__(self, base: str, username: str = "ann", password: str = "ann-password"):
        self.http = httpx.Client(base_url=base, timeout=30)
        self.http.get("/login/")
        answer = self.http.post("/login/", data={"username": username, "password": password,
                                                 "csrfmiddlewaretoken": self.http.cookies["csrftoken"]},
                                headers={"Referer": base + "/login/"})
        assert answer.status_code == 302
        self.headers = {"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": base}
        self.workflows: dict[str, int] = {}

    def post(self, path: str, body: dict) -> httpx.Response:
        return self.http.post(path, json=body, headers=self.headers)

    def start(self, name: str, items, delay: float, yaml: str = ITEMS) -> tuple[int, str]:
        """Start a run of ``yaml`` (ITEMS) named ``name``: (run id, its side effects' tag)."""
        if name not in self.workflows:
            made = self.post("/api/workflows/", {"yaml": yaml.replace("NAME", name)})
            assert made.status_code == 201, made.text
            self.workflows[name] = made.json()["id"]
        tag = uuid.uuid4().hex
        started = self.post(f"/api/workflows/{self.workflows[name]}/runs",
                            {"inputs": {"tag": tag, "items": list(items), "delay": delay}})
        assert started.status_code == 201, started.text
        return started.json()["id"], tag


@pytest.fixture(scope="module")
def env(cluster_env):
    """The cluster's environment, with the side effects' table and its function allowed."""
    return side_effects_env(cluster_env, f"CREATE TABLE IF NOT EXISTS {functions.TABLE} (tag text, item int, "
                            "pids int[], at timestamptz DEFAULT clock_timestamp())",
                            WORKFLOW_PYTHON_WORKERS="5", WORKFLOW_LEASE_SECONDS=str(LEASE_SECONDS))


@pytest.fixture(scope="module")
def web(env):
    yield from serving(env)


@pytest.fixture(scope="module")
def workers(env):
    """Two workers, started side by side; the kill test kills one of them."""
    yield from workers_side_by_side(env, [f"wf-takeover-{n}" for n in (1, 2)])


@pytest.fixture(scope="module")
def queue(env):
    """Send ``builder.execute_run`` messages the way a web process does, from this process."""
    from celery import Celery

    app = Celery("takeover-test", broker=env["REDIS_URL"], set_as_current=False)
    app.conf.update(broker_transport_options={"global_keyprefix": env["WORKFLOW_REDIS_PREFIX"]},
                    task_default_queue="runs", task_serializer="json", accept_content=["json"])
    try:
        yield lambda run_id: app.send_task("builder.execute_run", args=[run_id], queue="runs")
    finally:
        app.close()


# -- helpers ---------------------------------------------------------------------------------
def _tasks(worker: Worker, since: int) -> tuple[set[str], set[str]]:
    """The ids of the execute_run tasks a worker received, and of those that ended, since the
    ``since``-th line of its output."""
    text = "".join(worker.output[since:])
    received = set(re.findall(r"builder\.execute_run\[([\w-]+)\] received", text))
    ended = set(re.findall(r"builder\.execute_run\[([\w-]+)\] (?:succeeded|failed|raised)", text))
    return received, ended


def _until(check, seconds: float, what: str, pause: float = 0.02):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(pause)
    raise AssertionError(f"not within {seconds} s: {what}")


def _status(db, run_id: int) -> str:
    return db("SELECT status FROM builder_run WHERE id = %s", run_id)[0][0]


def _ended(db, run_id: int, seconds: float = 30) -> str:
    """The run's status once it ended, with its error and its failed steps' when it did not succeed."""
    status = _until(lambda: (s := _status(db, run_id)) not in ("queued", "running") and s, seconds,
                    f"run {run_id} ends")
    if status != "succeeded":
        status += f": {db('SELECT error FROM builder_run WHERE id = %s', run_id)[0][0]} " + str(db(
            "SELECT path, attempt, error FROM builder_steprun WHERE run_id = %s AND status = 'failed' "
            "LIMIT 3", run_id))
    return status


def _rows(db, run_id: int, like: str = "%.rec") -> dict[str, list[tuple]]:
    """Each item's StepRun rows, ``path: [(attempt, status, error), ...]`` by attempt."""
    rows: dict[str, list[tuple]] = {}
    for path, attempt, status, error in db("SELECT path, attempt, status, error FROM builder_steprun "
                                           "WHERE run_id = %s AND path LIKE %s ORDER BY path, attempt",
                                           run_id, like):
        rows.setdefault(path, []).append((attempt, status, error))
    return rows


def _effects(db, tag: str) -> dict[int, list[tuple]]:
    """Each item's side effects, ``item: [(pids, at), ...]``."""
    found: dict[int, list[tuple]] = {}
    for item, pids, at in db(f"SELECT item, pids, at FROM {functions.TABLE} WHERE tag = %s ORDER BY at", tag):
        found.setdefault(item, []).append((pids, at))
    return found


def _pid(worker_column: str) -> int:
    return int(worker_column.split(":")[1])


def test_web_processes_validate_python_steps_but_never_start_a_python_pool(env, web, workers):
    """In the celery mode runs execute on workers: a web process that validated workflows with
    ``python`` steps has no pool processes of its own; the workers have theirs from the start."""
    api = Api(web.base)
    made = api.post("/api/workflows/", {"yaml": ITEMS.replace("NAME", "validated-only")})
    assert made.status_code == 201, made.text
    time.sleep(1)
    assert descendants(web.proc.pid) == set(), "the web process started processes"
    assert all(descendants(w.proc.pid) for w in workers), "a worker has no python pool"


# -- cancel ----------------------------------------------------------------------------------
def test_a_queued_run_cancelled_before_a_worker_picks_it_up_never_starts(env, web, workers, cluster_db):
    """Every worker busy (stopped, here): the run waits in the queue; cancelled through the API
    meanwhile, it is cancelled at once, and the worker that gets its message later does nothing."""
    api = Api(web.base)
    marks = [len(w.output) for w in workers]
    for worker in workers:
        worker.proc.send_signal(signal.SIGSTOP)
    try:
        run_id, tag = api.start("queued-then-cancelled", range(3), 0)
        assert _status(cluster_db, run_id) == "queued"
        cancelled = api.post(f"/api/runs/{run_id}/cancel", {})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    finally:
        for worker in workers:
            worker.proc.send_signal(signal.SIGCONT)

    # the run's message reaches a worker, which ends its task at once
    def handled():
        seen = [_tasks(w, mark) for w, mark in zip(workers, marks)]
        received = set().union(*(r for r, _ in seen))
        return received and received <= set().union(*(e for _, e in seen))

    _until(handled, 15, "a worker receives the cancelled run's message and ends its task")
    [(status, worker, started_at, lease_owner)] = cluster_db(
        "SELECT status, worker, started_at, lease_owner FROM builder_run WHERE id = %s", run_id)
    assert (status, worker, started_at, lease_owner) == ("cancelled", "", None, "")
    assert cluster_db("SELECT count(*) FROM builder_steprun WHERE run_id = %s", run_id) == [(0,)]
    # at most the cancel itself, as a status event for its monitors: nothing ran
    assert {kind for (kind,) in cluster_db("SELECT type FROM builder_runevent WHERE run_id = %s", run_id)} \
        <= {"run.status"}
    assert _effects(cluster_db, tag) == {}


def test_two_workers_racing_for_one_run_only_one_runs_it(env, web, workers, cluster_db, queue):
    """The run's message and duplicates of it reach both workers while it is queued and while
    it runs: one worker runs it, the other's tasks end without touching it."""
    api = Api(web.base)
    marks = [len(w.output) for w in workers]
    run_id, tag = api.start("raced", range(8), 0.2)
    for _ in range(3):
        queue(run_id)
    sent = 4
    while _status(cluster_db, run_id) in ("queued", "running"):
        if not all(_tasks(w, mark)[0] for w, mark in zip(workers, marks)) and sent < 20:
            queue(run_id)
            sent += 1
        time.sleep(0.05)
    assert _ended(cluster_db, run_id) == "succeeded"
    _until(lambda: all(r <= e for r, e in (_tasks(w, m) for w, m in zip(workers, marks))), 10,
           "every task sent ends")
    received = [len(_tasks(w, mark)[0]) for w, mark in zip(workers, marks)]
    assert all(received), f"both workers got the run's messages ({received} of {sent}): there was a race"

    [(worker, takeovers, outputs)] = cluster_db(
        "SELECT worker, takeovers, outputs FROM builder_run WHERE id = %s", run_id)
    winner = _pid(worker)
    assert winner in {w.proc.pid for w in workers} and takeovers == 0
    assert outputs == {"each": [i * 3 for i in range(8)]}
    # one set of rows: each item once, attempt 1 (a second runner would add attempts or fail)
    assert _rows(cluster_db, run_id) == {f"each[{i}].rec": [(1, "succeeded", "")] for i in range(8)}
    assert cluster_db("SELECT count(*) FROM builder_steprun WHERE run_id = %s AND attempt <> 1", run_id) == [(0,)]
    # and every side effect happened once, in the winner's processes (its python pool)
    effects = _effects(cluster_db, tag)
    assert sorted(effects) == list(range(8)) and all(len(e) == 1 for e in effects.values())
    assert all(winner in pids for [(pids, _)] in effects.values())
    print(f"\nrace: {sent} messages for one run, received {received[0]} / {received[1]} by the two workers; "
          f"worker pid {winner} ran it")


def test_a_run_on_a_worker_cancelled_through_a_web_process_stops_within_a_second(env, web, workers, cluster_db):
    api = Api(web.base)
    run_id, _ = api.start("cancelled-live", range(8), 5)
    _until(lambda: cluster_db("SELECT count(*) FROM builder_steprun WHERE run_id = %s AND status = 'running' "
                              "AND path LIKE '%%.rec'", run_id)[0][0] == 4, 20, "four items run")
    [(holder,)] = cluster_db("SELECT lease_owner FROM builder_run WHERE id = %s", run_id)
    assert _pid(holder) in {w.proc.pid for w in workers} and _pid(holder) != web.proc.pid

    seen: dict[str, float] = {}

    def watch():  # the database, as often as it answers: when did the run end?
        while "at" not in seen and time.monotonic() - posted < 5:
            if _status(cluster_db, run_id) == "cancelled":
                seen["at"] = time.monotonic()
            time.sleep(0.005)

    posted = time.monotonic()
    watcher = threading.Thread(target=watch)
    watcher.start()
    answer = api.post(f"/api/runs/{run_id}/cancel", {})
    answered = time.monotonic()
    watcher.join()
    assert answer.status_code == 200
    assert "at" in seen, "the run was not cancelled within 5 s"
    latency = seen["at"] - posted
    print(f"\ncancel across processes: POST to status cancelled {latency * 1000:.0f} ms "
          f"(the API answered in {(answered - posted) * 1000:.0f} ms, saying {answer.json()['status']})")
    assert latency < 1.0, f"stopped {latency:.2f} s after the POST"
    # the run's end is written with its steps': none is left running
    assert cluster_db("SELECT count(*) FROM builder_steprun WHERE run_id = %s AND status = 'running'",
                      run_id) == [(0,)]
    statuses = {s for rows in _rows(cluster_db, run_id).values() for _, s, _ in rows}
    assert statuses == {"cancelled"}
    _until(lambda: cluster_db("SELECT lease_owner FROM builder_run WHERE id = %s", run_id) == [("",)], 5,
           "the worker lets the run's lease go")


# -- takeover --------------------------------------------------------------------------------
def test_a_worker_killed_mid_foreach_another_finishes_the_run_and_no_stored_item_runs_again(
        env, web, workers, cluster_db):
    """kill -9 the worker running a foreach of 200 items (and a slow step beside it); the other
    worker takes the run over.

    What the lease contract promises: an item whose success was stored before the kill runs
    exactly once (one row, one side effect, never started again); the steps running at the
    kill end as attempt 1 "interrupted" and succeed as attempt 2; the killed worker's processes,
    its python pool too, are gone with it (the slow step's first call never records). A step's
    start is stored before its call begins (the recorder's barrier), so an item without a row at
    the kill never ran there: its side effect happens once, in the survivor. Only the items
    stored as running may have run twice, the second time as attempt 2: counted and printed."""
    items = 200
    api = Api(web.base)
    run_id, tag = api.start("killed-mid-foreach", range(items), 0.05, FOREACH_AND_SLOW)
    _until(lambda: cluster_db("SELECT count(*) FROM builder_steprun WHERE run_id = %s AND status = 'succeeded' "
                              "AND path LIKE '%%.rec'", run_id)[0][0] >= 50, 60, "50 items stored")
    [(holder,)] = cluster_db("SELECT lease_owner FROM builder_run WHERE id = %s", run_id)
    [victim] = [w for w in workers if w.proc.pid == _pid(holder)]
    [survivor] = [w for w in workers if w is not victim]
    family = descendants(victim.proc.pid) | {victim.proc.pid}

    victim.proc.kill()  # SIGKILL: nothing is cleaned up, nothing acknowledged
    killed = time.monotonic()
    victim.proc.wait(5)
    # what was stored at the kill
    [(killed_at,)] = cluster_db("SELECT clock_timestamp()")
    [(seq_at_kill, takeovers_at_kill)] = cluster_db("SELECT last_seq, takeovers FROM builder_run WHERE id = %s",
                                                    run_id)
    before = _rows(cluster_db, run_id)
    slow_before = _rows(cluster_db, run_id, "work.slow")
    assert takeovers_at_kill == 0, "the rows were read after the takeover began"
    stored = {path for path, rows in before.items() if rows == [(1, "succeeded", "")]}
    running = {path for path, rows in before.items() if rows == [(1, "running", "")]}
    assert stored | running == set(before), before
    assert len(stored) >= 50 and running and slow_before == {"work.slow": [(1, "running", "")]}
    # every process of the killed worker ends with it: its python pool's too, mid-call
    _until(lambda: not [pid for pid in family if cpu_ticks(pid) is not None], 1,
           "the killed worker's processes end")

    # the survivor takes the run over and goes on
    def taken_over():
        [(owner, takeovers, seq)] = cluster_db("SELECT lease_owner, takeovers, last_seq FROM builder_run "
                                               "WHERE id = %s", run_id)
        return takeovers == 1 and seq > seq_at_kill and owner
    new_owner = _until(taken_over, LEASE_SECONDS * 2 + 10, "another worker takes the run over")
    takeover = time.monotonic() - killed
    assert _pid(new_owner) == survivor.proc.pid
    assert _ended(cluster_db, run_id, 60) == "succeeded"
    ended = time.monotonic() - killed

    [(worker, outputs, takeovers)] = cluster_db("SELECT worker, outputs, takeovers FROM builder_run WHERE id = %s",
                                                run_id)
    assert _pid(worker) == survivor.proc.pid and takeovers == 1
    assert outputs == {"each": [i * 3 for i in range(items)], "slow": -3}, "every item's output is present"
    after = _rows(cluster_db, run_id)
    effects = _effects(cluster_db, tag)
    assert set(after) == {f"work.each[{i}].rec" for i in range(items)}
    assert sorted(effects) == list(range(-1, items)), "every item's side effect happened"
    item = {f"work.each[{i}].rec": i for i in range(items)}
    events_after = cluster_db("SELECT type, data->>'path', data->>'reused' FROM builder_runevent "
                              "WHERE run_id = %s AND seq > %s", run_id, seq_at_kill)
    started_again = {path for kind, path, _ in events_after if kind == "step.started"}
    ran_again = {path for kind, path, reused in events_after if kind == "step.succeeded" and reused != "true"}

    for path in stored:  # stored before the kill: reused, never started again
        assert after[path] == [(1, "succeeded", "")], (path, after[path])
        assert len(effects[item[path]]) == 1, (path, effects[item[path]])
        assert path not in started_again and path not in ran_again, path
    for path in running:  # running at the kill: attempt 1 interrupted, attempt 2 succeeded
        (first, first_status, error), second = after[path]
        assert (first, first_status) == (1, "failed") and error.startswith("interrupted"), after[path]
        assert second == (2, "succeeded", ""), after[path]
        assert 1 <= len(effects[item[path]]) <= 2
    for path in set(after) - stored - running:  # no row at the kill: never started there
        assert after[path] == [(1, "succeeded", "")], (path, after[path])
        [(pids, _)] = effects[item[path]]
        assert survivor.proc.pid in pids, (path, pids)
    # the slow step: interrupted, then run again; its first call died with its worker
    (first, first_status, error), second = _rows(cluster_db, run_id, "work.slow")["work.slow"]
    assert (first, first_status, second) == (1, "failed", (2, "succeeded", "")) and error.startswith("interrupted")
    [(pids, _)] = effects[-1]
    assert survivor.proc.pid in pids

    twice = {i for i, found in effects.items() if len(found) > 1}
    twice_running = {i for i in twice if f"work.each[{i}].rec" in running}
    assert twice == twice_running, "only an item stored as running may run twice"
    late = [i for i, found in effects.items() for pids, at in found if pids[0] in family and at > killed_at]
    print(f"\ntakeover: kill -9 at {len(stored)} of {items} items stored, {len(running)} running; another worker "
          f"took the run over {takeover:.2f} s after the kill (lease {LEASE_SECONDS} s, passes every "
          f"{LEASE_SECONDS / 3:.0f} s) and ended it {ended:.2f} s after the kill; items run twice (two side "
          f"effects, the first in the killed worker, its success not stored; each was attempt 2): {len(twice)} of "
          f"{len(running)} stored as running; side effects by the killed worker's "
          f"processes after the kill: {len(late)}")
