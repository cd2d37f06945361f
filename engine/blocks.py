"""Blocks: parallel branches, foreach items, groups and needs-DAG lists.

Every block is bounded: parallel branches are the document's own (static) list, foreach
items are pulled by at most ``concurrency`` workers — items are never all tasks at once.
"""

from __future__ import annotations

import asyncio
import time

from . import events as ev
from .distributed import item_scope, run_remote
from .errors import BudgetExceeded, ExpressionError, StepFailed, StepTimeout
from .expressions import render
from .stats import BlockStat

perf = time.perf_counter


class _Blocked(Exception):
    """A DAG step did not start because a step it needs failed."""


async def run_block(ex, node, scope, path: str, frames: tuple):
    """Run a parallel, foreach or group step with its events, timeout and timing."""
    step = node.step
    stat = None
    if node.kind in ("parallel", "foreach"):
        stat = ex.stats.get(node.id)
        if stat is None:
            stat = ex.stats[node.id] = BlockStat(node.id, node.kind)
        frames = frames + (stat,)
    ex.emit(ev.StepStarted, path, node.id, node.kind, None, 1, None)
    started = perf()
    try:
        if step.timeout is None:
            output = await _inner(ex, node, scope, path, frames)
        else:
            async with asyncio.timeout(step.timeout) as deadline:
                try:
                    output = await _inner(ex, node, scope, path, frames)
                except TimeoutError:
                    if deadline.expired():
                        raise
                    raise StepFailed(path, "timed out") from None
    except asyncio.CancelledError:
        ex.emit(ev.StepCancelled, path, _ms(started))
        raise
    except TimeoutError:
        message = f"timed out after {step.timeout:g} s"
        ex.emit(ev.StepFailed, path, message, 1, _ms(started), False)
        raise StepTimeout(path, message) from None
    except StepFailed as exc:
        message = exc.message if exc.path == path else f"{exc.path}: {exc.message}"
        ex.emit(ev.StepFailed, path, ex.clean(message), 1, _ms(started), False)
        raise StepFailed(path, message) from None
    except BudgetExceeded as exc:  # ends the whole run: the block ends with it
        ex.emit(ev.StepFailed, path, str(exc), 1, _ms(started), False)
        raise
    finally:
        if stat is not None:
            stat.wall += perf() - started
    ex.emit(ev.StepSucceeded, path, ex.clean(output), 1, _ms(started), False)
    return output


def _ms(started: float) -> float:
    return round((perf() - started) * 1000, 3)


async def _inner(ex, node, scope, path, frames):
    if node.kind == "parallel":
        return await run_parallel(ex, node, scope, path, frames)
    if node.kind == "foreach":
        return await run_foreach(ex, node, scope, path, frames)
    return await ex.run_list(node.children, node.dag, scope, path + ".", frames)


class _Policy:
    """Counts finished children and decides when a block has won or lost."""

    def __init__(self, step, total: int, noun: str):
        self.on_error = step.on_error
        self.min_success = step.min_success
        self.total = total
        self.noun = noun
        self.ok = 0
        self.failed = 0
        self.first: StepFailed | None = None

    def record(self, error: StepFailed | None) -> bool:
        """Count one finished child; True when the block must stop now (it has lost)."""
        if error is None:
            self.ok += 1
            return False
        self.failed += 1
        self.first = self.first or error
        if self.min_success is not None:
            return self.ok + (self.total - self.ok - self.failed) < self.min_success
        return self.on_error == "fail_fast"

    def verdict(self) -> str | None:
        """The failure message once all children have finished, or None for success."""
        if self.min_success is not None:
            if self.ok < self.min_success:
                return self.lost()
            return None
        if self.failed and self.on_error in ("fail_fast", "wait_all"):
            return self.lost()
        return None

    def lost(self) -> str:
        first = f": {self.first}" if self.first else ""
        if self.min_success is not None:
            return (f"{self.ok} of {self.total} {self.noun} succeeded, {self.min_success} needed "
                    f"({self.failed} failed){first}")
        if self.failed == 1 and self.first is not None:
            return f"{self.first}"
        return f"{self.failed} of {self.total} {self.noun} failed{first}"


async def run_parallel(ex, node, scope, path: str, frames: tuple):
    """All branches at once (or ``concurrency`` at a time); output ``{branch id: output}``."""
    step = node.step
    prefix = path + "."
    branches = node.children
    policy = _Policy(step, len(branches), "branches")
    sem = asyncio.Semaphore(step.concurrency) if step.concurrency else None
    loop = asyncio.get_running_loop()
    decided = loop.create_future()
    remaining = len(branches)

    async def branch(child):
        async with sem:
            return await ex.run_node(child, scope, prefix, frames)

    def on_done(task: asyncio.Task) -> None:
        nonlocal remaining
        remaining -= 1
        if task.cancelled() or decided.done():
            return
        error = task.exception()
        if error is not None and not isinstance(error, StepFailed):
            decided.set_exception(error)
            return
        if policy.record(error) or remaining == 0:
            decided.set_result(None)

    if sem is None:
        tasks = [loop.create_task(ex.run_action(child, scope, prefix + child.id, frames) if ex.plain(child)
                                  else ex.run_node(child, scope, prefix, frames)) for child in branches]
    else:
        tasks = [loop.create_task(branch(child)) for child in branches]
    for task in tasks:
        task.add_done_callback(on_done)
    try:
        await decided
    finally:
        await _stop(tasks)
    message = policy.verdict() if remaining == 0 else policy.lost()
    if message:
        raise StepFailed(path, message)
    return {child.id: (t.result() if not t.cancelled() and t.exception() is None else None)
            for child, t in zip(branches, tasks)}


async def _stop(tasks) -> None:
    """Cancel what still runs and wait for it, so its events come before the block's own."""
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in tasks:  # every error is retrieved: the block reports it, asyncio's logger must not
        if not task.cancelled():
            task.exception()


async def run_foreach(ex, node, scope, path: str, frames: tuple):
    """The body once per item, ``concurrency`` items in flight; output the list of results."""
    step = node.step
    try:
        items = render(step.foreach, scope, ex.evaluator)
    except ExpressionError as exc:
        raise StepFailed(path, f"foreach: {exc}") from None
    if isinstance(items, dict):
        items = [{"key": k, "value": v} for k, v in items.items()]
    if items is None:
        items = []
    if not isinstance(items, list):
        raise StepFailed(path, f"foreach needs a list, got {type(items).__name__}")
    total = len(items)
    ex.budget.foreach(total)
    results: list = [None] * total
    policy = _Policy(step, total, "items")
    name = step.as_
    body, dag = node.children, node.dag
    distributor = ex.services.get("distribute")
    if distributor is not None and total and distributor.wants(step, total):
        lost = await run_remote(ex, node, scope, path, items, policy, results, frames, distributor)
        message = policy.lost() if lost else policy.verdict()
        if message:
            raise StepFailed(path, message)
        return results
    source = iter(enumerate(items))
    running = 0
    progress = ev.ForeachProgress

    async def worker() -> None:
        nonlocal running
        for index, item in source:
            child = item_scope(scope, name, item, index, total)
            running += 1
            try:
                results[index] = await ex.run_list(body, dag, child, f"{path}[{index}].", frames)
                lost = policy.record(None)
            except StepFailed as exc:
                lost = policy.record(exc)
            finally:
                running -= 1
            ex.emit(progress, path, policy.ok, policy.failed, running, total)
            if lost:
                raise _Lost()

    ex.emit(progress, path, 0, 0, 0, total)
    loop = asyncio.get_running_loop()
    workers = [loop.create_task(worker()) for _ in range(min(step.concurrency or 8, total))]
    try:
        if workers:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                error = task.exception()
                if error is not None and not isinstance(error, _Lost):
                    raise error
    finally:
        await _stop(workers)
    message = policy.lost() if any(t.done() and not t.cancelled() and isinstance(t.exception(), _Lost)
                                   for t in workers) else policy.verdict()
    if message:
        raise StepFailed(path, message)
    return results


class _Lost(Exception):
    """A foreach worker saw the block lose (fail_fast, or the quorum out of reach)."""


async def run_dag(ex, nodes, scope, prefix: str, frames: tuple):
    """A step list where ``needs`` decides the order: each step starts when its needs are done."""
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task] = []

    async def one(node):
        if node.deps:
            deps = [tasks[d] for d in node.deps]
            await asyncio.wait(deps)
            if any(t.cancelled() or t.exception() is not None for t in deps):
                raise _Blocked()
        return await ex.run_node(node, scope, prefix, frames)

    for node in nodes:
        tasks.append(loop.create_task(one(node)))
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failures = [t.exception() for t in done if not t.cancelled() and t.exception() is not None]
        real = [e for e in failures if not isinstance(e, _Blocked)]
        if real:
            raise real[0]
    finally:
        await _stop(tasks)
    return tasks[-1].result() if tasks else None
