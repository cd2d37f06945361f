"""A foreach spread over the celery workers: chunks of items as Celery tasks (``distribute: true``
on the block, or every foreach of ``WORKFLOW_DISTRIBUTE_ITEMS`` items or more).

The run's process keeps the block (engine/distributed.py): the items' order, the failure
policy and the progress are the engine's, so results never change. ``Distributor`` is its
transport. It cuts the items into chunks of ``WORKFLOW_DISTRIBUTE_CHUNK`` and sends each as
``builder.run_chunk``. The block's concurrency is shared: each chunk runs ``lanes`` items at
once, and at most ``concurrency // lanes`` chunks are out at a time, so no more than
``concurrency`` items run at once across every worker. A chunk's events come back through one
Redis list per block; the run's process forwards them into the run (its recorder stores and
streams them, one writer as ever) and takes each item's end from it.

What survives what:

- A chunk's worker dies: its heartbeat key expires. Its items that ended are kept; the step
  running when it died is stored ``failed`` ("interrupted…") and the rest of its items go out
  again as a new chunk, that step as its next attempt. A chunk pushes a step's start before the
  step's action runs (the Redis list is its barrier), so nothing ran that the run does not know.
- Nobody takes a chunk (every worker busy, or none): after ``CLAIM_GRACE`` seconds the run's
  own process claims it and runs it itself; the run never waits on a queue forever.
- A message delivered twice (acks_late): the first to ``SET NX`` the chunk's claim runs it.
- The run's process stops (or the block ends early: fail_fast, a cancel): the chunks see its
  heartbeat go (or the stop key) and cancel their items. A takeover goes on from the stored steps.

Keys (under ``WORKFLOW_REDIS_PREFIX``, all expiring): ``wf:fe:<run>:<path>:<token>`` plus
``:ctx`` (the names the body sees), ``:spec:N``, ``:claim:N``, ``:hb:N``, ``:alive``, ``:stop``,
``:events``.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings

from engine import events as ev
from engine.errors import BudgetExceeded, StepFailed

from .frames import dumps
from .throttle import services as shared_limits

log = logging.getLogger(__name__)
TTL = 24 * 3600  # seconds any key lives at most
HEARTBEAT = 0.5  # seconds between a chunk's (and the run's) heartbeats
WATCH = 0.1  # seconds between a chunk's looks at its stop keys
LAPSE = 4.0  # seconds without a heartbeat: the process is gone
CLAIM_GRACE = 3.0  # seconds a chunk may wait for a worker before the run's process runs it
FLUSH = 0.1  # seconds a chunk buffers its events at most
DRAIN = 10.0  # seconds the run's process waits for stopped chunks' last events
POP = 1000  # chunk messages taken at once


def client():
    import redis.asyncio

    return redis.asyncio.Redis.from_url(settings.REDIS_URL)


class Distributor:
    """The ``distribute`` service of one run (engine/distributed.py describes the interface)."""

    def __init__(self, run_id: int):
        self.run_id = run_id

    def wants(self, step, total: int) -> bool:
        if step.distribute is not None:
            return step.distribute
        threshold = settings.WORKFLOW_DISTRIBUTE_ITEMS
        return bool(threshold) and total >= threshold

    async def run(self, ex, node, path, values, pending, total, limit, frames=()):
        block = _Block(self.run_id, ex, path, values, pending, total, limit, frames)
        try:
            await block.open()
            async for result in block.results():
                yield result
        except (StepFailed, BudgetExceeded):
            raise
        except Exception as exc:  # noqa: BLE001 - Redis or the queue failed: the block fails, saying so
            log.exception("run %s: spreading the items of %s failed", self.run_id, path)
            raise StepFailed(path, f"spreading the items over the workers failed: {type(exc).__name__}: {exc}") \
                from None
        finally:
            await block.close()


class _Chunk:
    def __init__(self, number: int, pairs: list, attempts: dict, completed: dict | None = None):
        self.number = number
        self.pairs = pairs
        self.attempts = attempts
        self.completed = completed or {}  # path -> output of steps an earlier chunk finished
        self.ended_steps: dict[int, dict[str, object]] = {}  # item -> its steps that succeeded here
        self.sent = 0.0
        self.claimed = False
        self.ended = False
        self.lost = False
        self.local: asyncio.Task | None = None
        self.done: set[int] = set()
        self.open: dict[str, int] = {}  # path -> attempt of its steps under way


class _Block:
    """One distributed foreach in the run's process."""

    def __init__(self, run_id, ex, path, values, pending, total, limit, frames):
        self.run_id, self.ex, self.path, self.frames = run_id, ex, path, frames
        self.key = f"{settings.WORKFLOW_REDIS_PREFIX}wf:fe:{run_id}:{path}:{uuid.uuid4().hex[:12]}"
        self.values, self.total = values, total
        spread = max(1, settings.WORKFLOW_DISTRIBUTE_SPREAD)
        self.lanes = max(1, limit // spread)
        self.slots = max(1, limit // self.lanes)
        size = max(self.lanes, settings.WORKFLOW_DISTRIBUTE_CHUNK)
        prior = _by_item(ex.prior_attempts, path)
        self.queue = collections.deque()
        self.chunks: dict[int, _Chunk] = {}
        for start in range(0, len(pending), size):
            part = pending[start:start + size]
            self.queue.append(self._chunk(part, {p: a for i, _ in part for p, a in prior.get(i, {}).items()}))
        self.running: set[int] = set()
        self.backlog: collections.deque = collections.deque()  # messages popped, not yet handled
        self.redis = client()
        self.head = path + "["

    def _chunk(self, pairs, attempts, completed=None) -> _Chunk:
        chunk = _Chunk(len(self.chunks), pairs, attempts, completed)
        self.chunks[chunk.number] = chunk
        return chunk

    async def open(self) -> None:
        await self.redis.set(self.key + ":ctx", dumps({"run": self.run_id, "path": self.path, "values": self.values,
                                                       "total": self.total}), ex=TTL)
        await self.redis.set(self.key + ":alive", "1", px=int(LAPSE * 1000))

    def active(self) -> list[_Chunk]:
        return [c for c in self.chunks.values() if c.sent and not c.ended and not c.lost]

    async def results(self):
        loop = asyncio.get_running_loop()
        beat = 0.0
        while self.queue or self.active():
            while self.queue and len(self.active()) < self.slots:
                await self._send(self.queue.popleft())
            messages = await self._pop(0.2)
            self.backlog.extend(messages)
            while self.backlog:  # popped is taken: what the block's end leaves, close() handles
                for result in self._handle(self.backlog.popleft()):
                    yield result
            if loop.time() - beat >= HEARTBEAT:
                beat = loop.time()
                await self.redis.set(self.key + ":alive", "1", px=int(LAPSE * 1000))
                if len(messages) < POP:  # every message a dead chunk sent is in: now it may be judged
                    await self._check()

    async def _send(self, chunk: _Chunk) -> None:
        from .tasks import run_chunk as chunk_task

        spec = {"pairs": chunk.pairs, "lanes": self.lanes, "attempts": chunk.attempts, "completed": chunk.completed}
        await self.redis.set(f"{self.key}:spec:{chunk.number}", dumps(spec), ex=TTL)
        chunk.sent = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: chunk_task.apply_async(args=[self.key, chunk.number]))

    async def _pop(self, timeout: float) -> list[dict]:
        first = await self.redis.blpop([self.key + ":events"], timeout=timeout)
        if first is None:
            return []
        more = await self.redis.lpop(self.key + ":events", POP - 1) or []
        return [json.loads(text) for text in [first[1], *more]]

    def _handle(self, message: dict) -> list[tuple]:
        """Take one chunk message in; the items it ended, as the engine's result tuples."""
        chunk = self.chunks.get(message.get("c"))
        if chunk is None or chunk.lost:  # a chunk given up on: what it still says is not taken
            return []
        kind = message["t"]
        if kind == "claimed":
            chunk.claimed = True
        elif kind == "ev":
            data = message["e"]
            event = ev.EVENT_TYPES[data.pop("type")](**data)
            path = event.path
            if event.type == "step.succeeded" and event.reused:
                return []  # an earlier chunk's step, stored and sent when it ended there
            if event.type == "step.succeeded":
                index = self._index(path)
                if index is not None:
                    chunk.ended_steps.setdefault(index, {})[path] = event.output
            if event.type == "step.started" and event.kind == "action":
                self.ex.budget.step()  # the run's own budget counts every worker's steps
                chunk.open[path] = event.attempt
                index = self._index(path)
                if index is not None:
                    self.running.add(index)
            elif event.type in ev.TERMINAL_STEP_TYPES:
                chunk.open.pop(path, None)
            self.ex.forward(event, "")
        elif kind == "item":
            index = message["i"]
            chunk.done.add(index)
            chunk.ended_steps.pop(index, None)
            self.running.discard(index)
            error = tuple(message["err"]) if message.get("err") else None
            return [(index, message.get("out"), error, len(self.running))]
        elif kind == "end":
            chunk.ended = True
            work = float(message.get("work") or 0)
            self.ex.work += work
            for frame in self.frames:
                frame.work += work
            self.ex.action_steps += int(message.get("steps") or 0)
            for name, count in (message.get("tokens") or {}).items():
                self.ex.tokens[name] = self.ex.tokens.get(name, 0) + count
            if message.get("error"):  # the chunk could not run at all: its items fail, saying why
                failed = [index for index, _ in chunk.pairs if index not in chunk.done]
                chunk.done.update(failed)
                return [(index, None, (f"{self.path}[{index}]", message["error"]), len(self.running))
                        for index in failed]
        return []

    def _index(self, path: str) -> int | None:
        if not path.startswith(self.head):
            return None
        end = path.find("]", len(self.head))
        return int(path[len(self.head):end]) if end > 0 else None

    async def _check(self) -> None:
        """Chunks whose worker is gone go out again; chunks nobody took run here."""
        now = time.monotonic()
        for chunk in self.active():
            if chunk.claimed:
                if not await self.redis.exists(f"{self.key}:hb:{chunk.number}") and now - chunk.sent > LAPSE:
                    await self._lose(chunk)
            elif chunk.local is None and now - chunk.sent > CLAIM_GRACE:
                chunk.local = asyncio.get_running_loop().create_task(run_chunk(self.key, chunk.number))
            elif chunk.local is not None and chunk.local.done():
                # another process holds its claim but never said so (it died right after taking
                # it): from now on its heartbeat judges it, so the chunk cannot wait forever
                chunk.claimed = True

    async def _lose(self, chunk: _Chunk) -> None:
        chunk.lost = True
        await self.redis.set(f"{self.key}:drop:{chunk.number}", "1", ex=TTL)  # if it still runs: it stops
        log.warning("run %s: the worker running items of %s stopped; they go out again", self.run_id, self.path)
        attempts = dict(chunk.attempts)
        for path, attempt in chunk.open.items():
            self.ex.emit(ev.StepFailed, path, "interrupted: the worker running it stopped", attempt, 0.0, False)
            attempts[path] = attempt
        rest = [(i, item) for i, item in chunk.pairs if i not in chunk.done]
        completed = dict(chunk.completed)  # the steps of unfinished items that did finish: never run again
        for index, _ in rest:
            self.running.discard(index)
            completed.update(chunk.ended_steps.get(index, {}))
        if rest:
            self.queue.appendleft(self._chunk(rest, attempts, completed))

    async def close(self) -> None:
        """Stop the chunks still out, forward their last events, and drop every key."""
        try:
            while self.backlog:  # taken from Redis before the block ended: their events go in too
                self._handle(self.backlog.popleft())
            await self.redis.set(self.key + ":stop", "1", ex=TTL)
            for chunk in self.chunks.values():  # never sent, or sent and not yet taken: never run
                if not chunk.ended and not chunk.claimed:
                    if not await self.redis.set(f"{self.key}:claim:{chunk.number}", "void", nx=True, ex=TTL):
                        chunk.claimed = chunk.sent > 0  # a worker has it: wait for its end
            deadline = time.monotonic() + DRAIN
            while time.monotonic() < deadline:
                waiting = [c for c in self.active() if c.claimed]
                if not waiting:
                    break
                messages = await self._pop(0.2)
                for message in messages:
                    self._handle(message)
                if len(messages) < POP:
                    await self._check()
            for chunk in self.chunks.values():
                if chunk.local is not None and not chunk.local.done():
                    chunk.local.cancel()
            keys = [self.key + s for s in (":ctx", ":alive", ":stop", ":events")]
            keys += [f"{self.key}:{kind}:{n}" for n in self.chunks for kind in ("spec", "hb", "drop")]
            await self.redis.delete(*keys)  # the claims stay until they expire: a late copy never runs
        except Exception as exc:  # noqa: BLE001 - Redis gone: the keys expire by themselves
            log.warning("run %s: could not clean up the chunks of %s: %s", self.run_id, self.path, exc)
        finally:
            await self.redis.aclose()


def _by_item(attempts: dict, path: str) -> dict[int, dict[str, int]]:
    """Attempts made before a takeover, by item of the foreach at ``path``."""
    head = path + "["
    found: dict[int, dict[str, int]] = {}
    for key, attempt in (attempts or {}).items():
        if key.startswith(head):
            end = key.find("]", len(head))
            if end > 0 and key[len(head):end].isdigit():
                found.setdefault(int(key[len(head):end]), {})[key] = attempt
    return found


# -- a chunk, in whichever process took it ----------------------------------------------------
class _Pusher:
    """A chunk's sink: events and item ends, in order, to the block's Redis list. ``stored`` is
    the engine's barrier: a step's start is pushed before its action runs."""

    def __init__(self, redis, key: str, number: int):
        self.redis, self.key, self.number = redis, key + ":events", number
        self.buffer: list[str] = []
        self.lock = asyncio.Lock()

    def emit(self, event) -> None:
        self.buffer.append(dumps({"c": self.number, "t": "ev", "e": event.as_dict()}))

    def item(self, index: int, output, error) -> None:
        self.buffer.append(dumps({"c": self.number, "t": "item", "i": index, "out": output,
                                  "err": list(error) if error else None}))

    def say(self, kind: str, **data) -> None:
        self.buffer.append(dumps({"c": self.number, "t": kind, **data}))

    async def said(self, kind: str, **data) -> None:
        self.say(kind, **data)
        await self.stored()

    async def stored(self) -> None:
        async with self.lock:
            if self.buffer:
                batch, self.buffer = self.buffer, []
                await self.redis.rpush(self.key, *batch)
                await self.redis.expire(self.key, TTL)


async def run_chunk(key: str, number: int) -> None:
    """Run chunk ``number`` of the block ``key`` unless another process has it (builder.run_chunk)."""
    from .execution import worker_name

    redis = client()
    try:
        if not await redis.set(f"{key}:claim:{number}", worker_name(), nx=True, ex=TTL):
            return
        context, spec = await redis.mget(key + ":ctx", f"{key}:spec:{number}")
        if context is None or spec is None or await redis.exists(key + ":stop") \
                or not await redis.exists(key + ":alive"):
            await _Pusher(redis, key, number).said("end")  # taken, and not run: the block may stop waiting
            return
        await _run(redis, key, number, json.loads(context), json.loads(spec))
    finally:
        await redis.aclose()


async def _run(redis, key: str, number: int, context: dict, spec: dict) -> None:
    from engine import Runner

    from .runtime import engine_settings

    sink = _Pusher(redis, key, number)
    sink.say("claimed")
    await redis.set(f"{key}:hb:{number}", "1", px=int(LAPSE * 1000))
    await sink.stored()
    try:
        loaded = await sync_to_async(_load)(context["run"])
    except Exception as exc:  # noqa: BLE001 - the items fail with the reason, the block decides
        sink.say("end", error=f"could not run these items here: {type(exc).__name__}: {exc}")
        await sink.stored()
        return
    workflow_plan, actions, secret_values, owner_id = loaded
    from .execution import saved_workflows

    loop = asyncio.get_running_loop()
    runner = Runner(actions, engine_settings(), secrets=secret_values,
                    services={"workflows": saved_workflows(owner_id), **shared_limits()})  # global limits hold here too
    name = f"{context['run']}/{number}"
    stopping = False

    async def beat() -> None:
        nonlocal stopping
        beaten = loop.time()
        while True:
            await asyncio.sleep(WATCH)
            if loop.time() - beaten >= HEARTBEAT:
                await redis.set(f"{key}:hb:{number}", "1", px=int(LAPSE * 1000))
                beaten = loop.time()
            if await redis.exists(key + ":stop", f"{key}:drop:{number}") or not await redis.exists(key + ":alive"):
                stopping = True
                if runner.cancel(name):  # (not yet started: the next look cancels it)
                    return

    async def flush() -> None:
        while True:
            await asyncio.sleep(FLUSH)
            await sink.stored()

    helpers = [loop.create_task(beat()), loop.create_task(flush())]
    execution = None
    try:
        task = loop.create_task(runner.run_items(
            workflow_plan, context["path"], context["values"], spec["pairs"], context["total"], sink,
            run_id=name, lanes=spec["lanes"], attempts=spec["attempts"], completed=spec.get("completed"),
            on_item=sink.item))
        await asyncio.sleep(0)
        execution = runner._runs.get(name)
        try:
            await task
        except asyncio.CancelledError:
            if not stopping:
                raise
    finally:
        for helper in helpers:
            helper.cancel()
        stats = {}
        if execution is not None:
            stats = {"work": execution.work, "steps": execution.action_steps, "tokens": execution.tokens}
        sink.say("end", **stats)
        await sink.stored()
        await redis.delete(f"{key}:hb:{number}")


def _load(run_id: int):
    """The run's plan as its own process has it, with the owner's actions and secrets."""
    from engine import plan

    from .models import Run
    from .runtime import load_workflow, registry, secrets_for

    run = Run.objects.select_related("workflow__owner", "version").get(pk=run_id)
    secret_values = secrets_for(run.workflow.owner)
    actions = registry()
    workflow = load_workflow(run.version.yaml, f"{run.workflow.name}.yaml", actions, secret_values.keys())
    return plan(workflow, actions), actions, secret_values, run.workflow.owner_id
