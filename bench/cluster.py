"""Cluster benchmark: the celery mode with real processes on this machine's PostgreSQL and Redis.

Run: ``python bench/cluster.py`` (``--quick`` for a short run). It creates a database
``wf_bench_<pid>`` (dropped at the end) and uses a Redis key prefix of its own, starts daphne
and ``python -m celery -A builder worker`` processes as a deployment would (``builder.settings``,
the environment only), and prints:

1. throughput of N small runs (a parallel of 4 ``wait 0.01``) started through one daphne's
   API by several HTTP clients, executed by 1, 2 and 4 worker processes, with what a run
   costs: the workers' CPU, PostgreSQL's CPU and its transactions;
2. latency from the "start run" POST to the run's first event and to ``run.finished`` on a
   websocket, for a one-step run, in the celery mode (one daphne + one worker) and the embedded
   mode (one daphne) on SQLite and on the same PostgreSQL, with where the time goes (the run's
   row made, run.started, run.finished);
3. time from a worker's ``kill -9`` in the middle of a run to the run going on in another
   worker, with ``WORKFLOW_LEASE_SECONDS`` at its default and at 6; on one host and, when
   ``unshare -u`` is allowed, with each worker in a host name of its own (as on other machines).

Ctrl+C stops every process it started (and drops the database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psycopg
import redis
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.procs import descendants  # noqa: E402
from tests.servers import Daphne, deployment_env, manage, migrated  # noqa: E402

from bench.cluster_kit import (  # noqa: E402
    CLIENTS, CLOSED_1011, CRASH, ONE_STEP, PG, REDIS_URL, SMALL, STARTED, USERS, Worker, cpu_seconds, create, login,
    machine, start, stats, web, workers, ws_headers, ws_url)


async def queue_runs(server: Daphne, n: int) -> tuple[list[int], float]:
    """N runs started by CLIENTS clients at once: (their workflows, seconds to start them all)."""
    clients = [await login(server.base, user) for user in USERS]
    ids = [await create(client, SMALL) for client in clients]
    left = list(range(n))
    began = time.perf_counter()

    async def client_loop(client, workflow_id):
        while left:
            left.pop()
            await start(client, workflow_id)

    await asyncio.gather(*(client_loop(c, w) for c, w in zip(clients, ids)))
    submitted = time.perf_counter() - began
    for client in clients:
        await client.aclose()
    return ids, submitted


async def drained(db, ids: list[int], n: int) -> tuple[float, dict]:
    """Wait for the runs of these workflows to end: (first start to last end in s, statuses)."""
    while True:
        [(active, done)] = db("select count(*) filter (where status in ('queued', 'running')), count(*) "
                              "from builder_run where workflow_id = any(%s)", ids)
        if active == 0 and done == n:
            break
        await asyncio.sleep(0.1)
    [(wall,)] = db("select extract(epoch from max(finished_at) - min(started_at)) from builder_run "
                   "where workflow_id = any(%s)", ids)
    statuses = dict(db("select status, count(*) from builder_run where workflow_id = any(%s) group by 1", ids))
    errors = db("select error from builder_run where workflow_id = any(%s) and status != 'succeeded' limit 1", ids)
    if errors:
        statuses[f"(one said: {errors[0][0][:300]!r})"] = ""
    return float(wall), statuses


# -- 2. latency -------------------------------------------------------------------------------

async def latency(server: Daphne, runs: int) -> dict[str, list[float]]:
    """POST → first event and → run.finished, on ws/workflows/ (open before the POST) and on
    the run's own socket (opened when the POST answers, ``?after=0``, as a monitor does). A
    sample whose socket daphne closed (1011, see CLOSED_1011) is dropped and counted."""
    client = await login(server.base, "bench0")
    workflow_id = await create(client, ONE_STEP)
    found: dict[str, list] = {k: [] for k in ("post", "list_first", "list_finished", "run_first", "run_finished",
                                              *SPLIT, "dropped")}
    lst, done = None, 0
    while len(found["post"]) < runs and len(found["dropped"]) < runs:
        if lst is None:
            lst = await websockets.connect(ws_url(server, "workflows/"), additional_headers=ws_headers(client, server))
        try:
            posted, seen = await latency_sample(server, client, workflow_id, lst)
        except websockets.ConnectionClosed as exc:
            found["dropped"].append(exc.rcvd.code if exc.rcvd else "?")
            CLOSED_1011.extend(code for code in found["dropped"][-1:] if code == 1011)
            await lst.close()
            lst = None
            continue
        done += 1
        if done > 3:  # the first 3 warm up connections and caches
            found["post"].append(posted)
            for key, value in seen.items():
                found[key].append(value)
    await lst.close()
    await client.aclose()
    return found


#: where a sample's time goes, in seconds after the POST was sent: the run's row made (its
#: created_at), run.started and run.finished (their ``ts``, by the clock of the process that ran
#: the run: the same host's)
SPLIT = ("split_created", "split_started", "split_finished")


async def latency_sample(server: Daphne, client, workflow_id: int, lst) -> tuple[float, dict[str, float]]:
    sent = time.time()
    began = time.perf_counter()
    answer = await client.post(f"/api/workflows/{workflow_id}/runs", json={})
    assert answer.status_code == 201, answer.text[:500]
    run_id = answer.json()["id"]
    posted = time.perf_counter() - began
    seen: dict[str, float] = {"split_created": datetime.fromisoformat(answer.json()["created_at"]).timestamp() - sent}
    async with websockets.connect(ws_url(server, f"runs/{run_id}/?after=0"),
                                  additional_headers=ws_headers(client, server)) as one:
        async def on_list():
            while "list_finished" not in seen:
                message = json.loads(await lst.recv())
                if message.get("run_id") != run_id:
                    continue
                now = time.perf_counter() - began
                seen.setdefault("list_first", now)
                if message["status"] != "running":
                    seen["list_finished"] = now

        async def on_run():
            while "run_finished" not in seen:
                frame = json.loads(await one.recv())
                now = time.perf_counter() - began
                if frame["type"] == "events" and frame["events"]:
                    seen.setdefault("run_first", now)
                    for event in frame["events"]:
                        if event["type"] in ("run.started", "run.finished"):
                            seen["split_" + event["type"][4:]] = event["ts"] - sent
                    if any(e["type"] == "run.finished" for e in frame["events"]):
                        seen["run_finished"] = now

        await asyncio.wait_for(asyncio.gather(on_list(), on_run()), 30)
    return posted, seen


def print_latency(mode: str, found: dict) -> None:
    dropped = f" ({len(found['dropped'])} more dropped: a socket closed {found['dropped']})" if found["dropped"] else ""
    print(f"  {mode}: {len(found['post'])} runs{dropped}, the POST answered in {stats(found['post'])}")
    print(f"    ws/workflows/ (open before the POST): first event (run.started) {stats(found['list_first'])};"
          f" run.finished {stats(found['list_finished'])}")
    print(f"    ws/runs/<id>/?after=0 (opened once the POST answered, as the monitor): first event "
          f"{stats(found['run_first'])}; run.finished {stats(found['run_finished'])}")
    median = {key: statistics.median(found[key]) * 1000 for key in (*SPLIT, "list_finished") if found[key]}
    if len(median) == 4:
        print(f"    where it goes (medians after the POST was sent): the run's row made {median['split_created']:.1f} ms,"
              f" run.started {median['split_started']:.1f} ms, run.finished {median['split_finished']:.1f} ms (both by"
              f" the executing process's clock), on ws/workflows/ {median['list_finished']:.1f} ms")


# -- 3. kill -9 -------------------------------------------------------------------------------

async def kill_sample(server: Daphne, pool: list[Worker], db, lease: float) -> str:
    """Start the crash run, kill -9 the worker holding it, and time the first event of the run
    that another worker emits; the victim is started again for the next sample."""
    client = await login(server.base, "bench1")
    run_id = await start(client, await create(client, CRASH))
    seen: list[tuple[float, dict]] = []  # (receipt, event) on a websocket to the run
    closed: list[str] = []

    async def listen():  # as the monitor: it reconnects (?after=N) when the socket closes
        last = 0
        while True:
            try:
                async with websockets.connect(ws_url(server, f"runs/{run_id}/?after={last}"), max_size=None,
                                              additional_headers=ws_headers(client, server)) as ws:
                    async for raw in ws:
                        now = time.time()
                        for event in json.loads(raw).get("events", ()):
                            seen.append((now, event))
                            last = max(last, event["seq"])
            except websockets.ConnectionClosed as exc:
                closed.append(f"{exc.rcvd.code if exc.rcvd else '?'}")
                CLOSED_1011.extend(code for code in closed[-1:] if code == "1011")

    listener = asyncio.create_task(listen())
    deadline = time.monotonic() + 60
    while True:
        [(owner, items)] = db("select lease_owner, (select count(*) from builder_steprun s where s.run_id = r.id "
                              "and s.path like 'each[%%' and s.status = 'succeeded') from builder_run r "
                              "where id = %s", run_id)
        if owner and items >= 6:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} did not get going")
        await asyncio.sleep(0.05)
    pid = int(owner.split(":")[1])
    [victim] = [w for w in pool if w.proc.pid == pid]
    orphans = descendants(pid)
    killed = time.time()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + lease * 4 / 3 + 30
    stored = None  # the first event after the kill, as polling the run's events finds it
    while stored is None and time.monotonic() < deadline:
        rows = db("select data->>'type', (data->>'ts')::float from builder_runevent where run_id = %s "
                  "and (data->>'ts')::float > %s order by seq limit 1", run_id, killed)
        stored = (time.time(), *rows[0]) if rows else None
        await asyncio.sleep(0.02)
    while time.monotonic() < deadline + 30:
        [(status, takeovers, worker)] = db("select status, takeovers, worker from builder_run where id = %s", run_id)
        if status not in ("queued", "running"):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # the last frames
    listener.cancel()
    await client.aclose()
    victim.proc.wait(10)
    for orphan in orphans:
        try:
            os.kill(orphan, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pool[pool.index(victim)] = Worker(victim.env, victim.name, victim.host)
    if stored is None:
        return f"run {run_id}: no event after the kill within {lease * 4 / 3 + 30:.0f} s (status {status})"
    polled, kind, emitted = stored
    on_ws = [now for now, e in seen if e["ts"] > killed]
    socket = f"{on_ws[0] - killed:.2f} s" if on_ws else "never"
    drops = f", the socket closed {len(closed)}x (codes {', '.join(closed)}) and reconnected" if closed else ""
    return (f"{emitted - killed:6.2f} s to the first new event ({kind}, by its own clock; found by polling the "
            f"database at {polled - killed:.2f} s, on a websocket at {socket}{drops}); run {run_id} ended {status}, "
            f"taken over {takeovers}x, by {worker.split(':')[0]} pid {worker.split(':')[1]} (the killed pid {pid} "
            f"had {items} items done)")


def default_lease(env: dict) -> float:
    done = manage(env, "shell", "-c", "from django.conf import settings; print(settings.WORKFLOW_LEASE_SECONDS)")
    return float(done.stdout.split()[-1])


async def kill_section(env: dict, db, lease: float, samples: int, hosts: list[str | None]) -> list[str]:
    env = {**env, "WORKFLOW_LEASE_SECONDS": f"{lease:g}"}
    server = web(env)
    pool = workers(env, ["bench-k1", "bench-k2"], hosts)
    try:
        return [await kill_sample(server, pool, db, lease) for _ in range(samples)]
    finally:
        for process in [*pool, server]:
            process.stop()


def can_unshare() -> bool:
    try:
        return subprocess.run(["unshare", "-u", "hostname", "bench-probe"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# -- the whole -------------------------------------------------------------------------------

async def bench(args, env: dict, db, tmp: str) -> None:
    n = 100 if args.quick else args.runs
    samples = 1 if args.quick else 2
    print(f"Cluster bench on this machine: {machine()}; PostgreSQL 127.0.0.1:5432, Redis {REDIS_URL}")
    server = web(env)

    print(f"\n1. Throughput: {n} runs (a parallel of 4 `wait 0.01` each) started through one daphne's API by "
          f"{CLIENTS} concurrent HTTP clients (one user each) while no worker is up, so that the API is not the "
          "bottleneck; then the workers are started and drain the queue (8 runs at once per worker, the default); "
          "runs/s over the first run's start to the last run's end")
    for count in (1, 2, 4):
        ids, submitted = await queue_runs(server, n)
        transactions, database = committed(db), backends_cpu(db)
        pool = workers(env, [f"bench-w{i + 1}" for i in range(count)])
        wall, statuses = await drained(db, ids, n)
        cpu = sum(cpu_seconds(worker.proc.pid) - worker.cpu_ready for worker in pool)
        database = backends_cpu(db) - database
        for worker in pool:
            worker.stop()
        # an idle backend publishes its counters only every 10 s, one that ends at once
        await asyncio.sleep(0.5)
        transactions = committed(db) - transactions - db.calls  # less the bench's own polling
        print(f"  {count} worker process{'es' if count > 1 else ' '}: {n / wall:6.1f} runs/s, wall {wall:6.2f} s "
              f"({', '.join(f'{v} {k}' for k, v in sorted(statuses.items()))}; the {n} POSTs took {submitted:5.2f} s "
              f"= {n / submitted:.0f} starts/s) [{machine()}]")
        print(f"      per run: {1000 * cpu / n:5.2f} ms of the workers' CPU, {1000 * database / n:5.2f} ms of PostgreSQL's"
              f" (its backends for this database), {transactions / n:4.1f} PostgreSQL transactions (the web "
              "process's recovery loop included)")
    pool = workers(env, ["bench-w1"])

    runs = 10 if args.quick else 30
    print(f"\n2. Latency of a one-step run (`wait 0`), from the POST being sent [{machine()}]")
    print_latency("celery mode (one daphne + one worker, PostgreSQL, Redis)", await latency(server, runs))
    for process in [*pool, server]:
        process.stop()
    embedded_env = migrated(deployment_env(WORKFLOW_EXECUTION="embedded", SQLITE_PATH=f"{tmp}/embedded.sqlite3"), USERS)
    alone = web(embedded_env)
    print_latency("embedded mode (one daphne, SQLite, in-memory channel layer)", await latency(alone, runs))
    alone.stop()
    alone = web({**env, "WORKFLOW_EXECUTION": "embedded", "REDIS_URL": ""})
    print_latency("embedded mode on the same PostgreSQL (one daphne, in-memory channel layer)",
                  await latency(alone, runs))
    alone.stop()

    print(f"\n3. kill -9 of the worker running a run (a foreach of 50 items x `wait 0.2`, concurrency 2; "
          f"killed once >= 6 items finished) to the run's first event from another worker [{machine()}]")
    separate = can_unshare()
    default = default_lease(env)
    for lease in (default, 6):
        print(f"  WORKFLOW_LEASE_SECONDS={lease:g}{' (the default)' if lease == default else ''}"
              f" (the recovery loops pass every {lease / 3:.3g} s):")
        for line in await kill_section(env, db, lease, samples, [None, None]):
            print(f"    same host:       {line}")
        if separate:
            for line in await kill_section(env, db, lease, 1, ["bench-host-1", "bench-host-2"]):
                print(f"    separate hosts:  {line}")
    print("  Why: on one host a worker whose process is gone is seen as gone at once (builder/leases.py"
          " owner_gone), so its run waits only for the next pass of a recovery loop (each worker and each"
          f" web process runs one every lease/3): at most lease/3 ({default / 3:.3g} s at {default:g}, 2 s at 6),"
          " plus the queue and the claim. A worker on another machine cannot be looked at: its lease must lapse"
          " first (lease seconds after its last renewal, which was at most lease/3 before the kill), so the run"
          " goes on between 2/3 x lease and lease + lease/3 after the kill.")
    if separate:
        print("  'separate hosts': each worker in a host name of its own (unshare -u), as on two machines.")
    else:
        print("  (unshare -u is not allowed here: the separate-hosts figure was not measured)")
    if CLOSED_1011:
        print(f"\nWebsockets closed with 1011 by daphne: {len(CLOSED_1011)} in all (sections 2 and 3). Its consumer"
              " dies of 'Timeout reading from 127.0.0.1:6379' when 5 s pass without a message: redis-py 8's default"
              " socket_timeout (5 s) is as long as channels_redis's blocking read (BZPOPMIN, 5 s). The monitor"
              " reconnects (?after=N); the figures above count from the reconnected socket or drop the sample.")


class Reader:
    """``db(sql, *args)`` → rows, in autocommit; ``calls`` counts them (each one a transaction)."""

    def __init__(self, connection):
        self.connection, self.calls = connection, 0

    def __call__(self, sql: str, *args):
        self.calls += 1
        return self.connection.execute(sql, args).fetchall()


def committed(db) -> int:
    """Transactions committed in the bench's database so far; resets ``db.calls``."""
    [(count,)] = db("select xact_commit from pg_stat_database where datname = current_database()")
    db.calls = 0
    return count


def backends_cpu(db) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving the bench's database (the
    ones that ended meanwhile are not counted: read it before stopping the workers)."""
    total = 0.0
    for (pid,) in db("select pid from pg_stat_activity where datname = current_database()"):
        try:
            total += cpu_seconds(pid)
        except OSError:  # ended meanwhile
            pass
    return total


def interrupted(*_) -> None:
    """Ctrl+C and SIGTERM stop the bench wherever it is (asyncio's own SIGINT handler would only
    cancel the main task, which a library waiting on a socket may swallow)."""
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 runs, 10 latency runs, one kill per setting")
    parser.add_argument("--runs", type=int, default=1000, help="runs for the throughput figure (default 1000)")
    args = parser.parse_args()
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    name = prefix = f"wf_bench_{os.getpid()}"
    tmp = tempfile.mkdtemp(prefix="wf-bench-")
    admin = psycopg.connect(dbname="postgres", connect_timeout=3, autocommit=True, **PG)
    broker = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    broker.ping()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    began = time.monotonic()
    try:
        env = migrated(deployment_env(
            WORKFLOW_EXECUTION="celery", DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}",
            REDIS_URL=REDIS_URL, WORKFLOW_REDIS_PREFIX=prefix + ":", WORKFLOW_PYTHON_WORKERS="1",
            WORKFLOW_LEASE_SECONDS=None, WORKFLOW_WORKER_CONCURRENCY="8",
            CELERY_SKIP_CHECKS="1"), USERS)
        connection = psycopg.connect(dbname=name, autocommit=True, **PG)
        try:
            asyncio.run(bench(args, env, Reader(connection), tmp))
        finally:
            connection.close()
        print(f"\n(the bench took {time.monotonic() - began:.0f} s)")
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process started", file=sys.stderr)
    finally:
        for process in reversed(STARTED):
            try:
                process.stop(5) if isinstance(process, Worker) else process.stop()
            except Exception as exc:  # noqa: BLE001 - go on stopping the others
                print(f"stopping {process}: {exc}", file=sys.stderr)
        for pid in descendants(os.getpid()):  # anything left below us (a python step's pool, unshare)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        for key in broker.scan_iter(match=prefix + ":*", count=1000):
            broker.delete(key)
        broker.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
