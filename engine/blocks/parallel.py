"""``parallel``: all branches at once (or ``concurrency`` at a time)."""

from __future__ import annotations

import asyncio

from ..errors import StepFailed, Waiting
from .common import Done, Policy, start, stop


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
        cancelled = task.cancelled()
        settle(cancelled, None if cancelled else task.exception())  # read at once: never "never retrieved"

    def settle(cancelled: bool, error) -> None:
        nonlocal remaining, lost
        remaining -= 1
        if cancelled or decided.done():
            return
        if error is not None and not isinstance(error, (StepFailed, Waiting)):
            decided.set_exception(error)
            return
        lost = policy.record(error)
        if lost or remaining == 0:
            decided.set_result(None)

    tasks: list = []
    try:
        if sem is None:
            for child in branches:
                if child.action is None or child.condition is not None or child.skip or ex.completed \
                        or child.compensate is not None:  # not plain(): run_node first
                    tasks.append(loop.create_task(ex.run_node(child, scope, prefix, frames)))
                elif child.action.eager and child.step.timeout is None:  # a Task only once it waits
                    tasks.append(start(loop, ex.run_action(child, scope, prefix + child.id, frames)))
                else:
                    tasks.append(loop.create_task(ex.run_action(child, scope, prefix + child.id, frames)))
        else:
            tasks = [loop.create_task(branch(child)) for child in branches]
        for task in tasks:
            if type(task) is Done:  # as its done callback would, once every branch has started
                settle(task.error is not None and task.cancelled(), task.error)
            else:
                task.add_done_callback(on_done)
        await decided
    finally:
        await stop(tasks)
    if lost:  # stopped early: the rest were cancelled
        raise policy.failure(path)
    policy.outcome(path)
    return {child.id: (t.value if type(t) is Done else
                       t.result() if not t.cancelled() and t.exception() is None else None)
            for child, t in zip(branches, tasks)}
