"""``foreach``: the body once per item, at most ``concurrency`` items in flight.

Items are pulled by at most ``concurrency`` workers: never all tasks at once. With the
installation's distributor (celery mode) the items may be spread over the workers instead
(``engine/distributed.py``); a foreach that rolls back, compensates or waits for an approval
always runs here.
"""

from __future__ import annotations

import asyncio

from .. import events as ev
from ..distributed import item_scope, run_remote
from ..errors import ExpressionError, StepFailed, Waiting
from ..expressions import render
from .common import Policy, stop


class _Lost(Exception):
    """A foreach worker saw the block lose (fail_fast, or the quorum out of reach)."""


async def run_foreach(ex, node, scope, path: str, frames: tuple):
    """Output the list of the items' results (a failed or waiting item's is null)."""
    step = node.step
    items = _items(ex, step, scope, path)
    total = len(items)
    ex.budget.foreach(total)
    results: list = [None] * total
    policy = Policy.of(step, total, "items")
    distributor = ex.services.get("distribute")
    if distributor is not None and total and _may_spread(node) and distributor.wants(step, total):
        if await run_remote(ex, node, scope, path, items, policy, results, frames, distributor):
            raise policy.failure(path)
        policy.outcome(path)
        return results
    name, body, dag = step.as_, node.children, node.dag
    source = iter(enumerate(items))
    running = 0
    progress = ev.ForeachProgress
    one = body[0] if len(body) == 1 and not dag and ex.plain(body[0]) else None  # run_list would only call it

    async def worker() -> None:
        nonlocal running
        for index, item in source:
            child = item_scope(scope, name, item, index, total)
            running += 1
            try:
                if one is not None:
                    results[index] = await ex.run_action(one, child, f"{path}[{index}].{one.id}", frames)
                else:
                    results[index] = await ex.run_list(body, dag, child, f"{path}[{index}].", frames)
                lost = policy.record(None)
            except (StepFailed, Waiting) as exc:
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
        await stop(workers)
    if any(t.done() and not t.cancelled() and isinstance(t.exception(), _Lost) for t in workers):
        raise policy.failure(path)
    policy.outcome(path)
    return results


def _may_spread(node) -> bool:
    """A foreach that rolls back, or whose body holds an approval or a compensation, runs here:
    undoing and waiting need the items' state in this run."""
    if node.step.on_error == "rollback":
        return False
    todo = list(node.children)
    while todo:
        one = todo.pop()
        if one.compensate is not None or (one.action is not None and one.step.uses == "approval"):
            return False
        todo.extend(one.children)
        for lists in (one.cases or {}).values():
            todo.extend(lists[0])
        for lists in (one.on_failure, one.finally_):
            if lists is not None:
                todo.extend(lists[0])
    return True


def _items(ex, step, scope, path: str) -> list:
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
    return items
