"""``parallel``: all branches at once (or ``concurrency`` at a time)."""

from __future__ import annotations

import asyncio

from ..errors import StepFailed, Waiting
from .common import Policy, stop


async def run_parallel(ex, node, scope, path: str, frames: tuple):
    """Output ``{branch id: output}``; the block's policy decides when a failure ends it."""
    step = node.step
    prefix = path + "."
    branches = node.children
    policy = Policy.of(step, len(branches), "branches")
    sem = asyncio.Semaphore(step.concurrency) if step.concurrency else None
    loop = asyncio.get_running_loop()
    decided = loop.create_future()
    remaining = len(branches)
    lost = False

    async def branch(child):
        async with sem:
            return await ex.run_node(child, scope, prefix, frames)

    def on_done(task: asyncio.Task) -> None:
        nonlocal remaining, lost
        remaining -= 1
        error = None if task.cancelled() else task.exception()  # read at once: never "never retrieved"
        if task.cancelled() or decided.done():
            return
        if error is not None and not isinstance(error, (StepFailed, Waiting)):
            decided.set_exception(error)
            return
        lost = policy.record(error)
        if lost or remaining == 0:
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
        await stop(tasks)
    if lost:  # stopped early: the rest were cancelled
        raise policy.failure(path)
    policy.outcome(path)
    return {child.id: (t.result() if not t.cancelled() and t.exception() is None else None)
            for child, t in zip(branches, tasks)}
