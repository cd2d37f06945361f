"""A list of steps: a sequence, or a needs-DAG where each step starts when its needs are done.

The list's policy (``on_error`` of the group or workflow holding it) says what a failure
does: ``fail_fast`` and ``rollback`` cancel the steps still running and fail the list;
``wait_all`` lets every step that does not depend on the failed one run, then fails;
``continue`` does the same and succeeds. Steps that depend on a failed step never start: they
are skipped with the reason. A sequence is a chain (each step needs the one before).
A step waiting for a person holds back only the steps that depend on it.
"""

from __future__ import annotations

import asyncio

from .. import events as ev
from ..errors import StepFailed, Waiting
from .common import Policy, stop

_GO_ON = ("wait_all", "continue")


class _Blocked(Exception):
    """A DAG step did not start because a step it needs failed or waits."""


async def run_sequence(ex, nodes, scope, prefix: str, frames: tuple, policy: str = "fail_fast"):
    """One step after another; the output is the last step's."""
    output = None
    for i, node in enumerate(nodes):
        try:
            output = await ex.run_node(node, scope, prefix, frames)
        except StepFailed:
            if policy not in _GO_ON:
                raise
            _skip_rest(ex, nodes[i + 1:], prefix, f"the step before ('{node.id}') failed")
            if policy == "continue":
                return None
            raise
    return output


def _failed(task: asyncio.Task) -> bool:
    """Did ``task`` end in a failure (not a wait, not a blocked start)?"""
    return not task.cancelled() and task.exception() is not None \
        and not isinstance(task.exception(), (Waiting, _Blocked))


def _skip_rest(ex, nodes, prefix: str, reason: str) -> None:
    for node in nodes:
        ex.emit(ev.StepSkipped, prefix + node.id, reason)


async def run_dag(ex, nodes, scope, prefix: str, frames: tuple, policy: str = "fail_fast"):
    """Each step starts when its needs are done; the output is the last step's (None when it
    did not run)."""
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task] = []
    count = Policy(policy, None, len(nodes), "steps")

    async def one(node):
        if node.deps:
            deps = [tasks[d] for d in node.deps]
            await asyncio.wait(deps)
            failed = [nodes[d].id for d, t in zip(node.deps, deps) if t.cancelled() or t.exception() is not None
                      and not isinstance(t.exception(), Waiting)]
            if failed:
                if policy in _GO_ON:
                    ex.emit(ev.StepSkipped, prefix + node.id, f"needs '{failed[0]}', which did not succeed")
                raise _Blocked()
            if any(not t.cancelled() and isinstance(t.exception(), Waiting) for t in deps):
                raise _Blocked()  # runs when the run is continued
        return await ex.run_node(node, scope, prefix, frames)

    for node in nodes:
        tasks.append(loop.create_task(one(node)))
    try:
        pending = set(tasks)
        while pending:  # a step that waits for a person ends its task: the others go on
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            if policy not in _GO_ON and any(_failed(t) for t in done):
                break
        for task in tasks:
            if task.done() and not task.cancelled():
                error = task.exception()
                if isinstance(error, (StepFailed, Waiting)):
                    count.record(error)
                elif error is not None and not isinstance(error, _Blocked):
                    raise error
        if count.failed and policy not in _GO_ON:
            raise count.first
    finally:
        await stop(tasks)
    if count.failed and policy == "wait_all":
        if count.failed == 1:
            raise count.first
        raise count.failure(prefix[:-1])
    if count.waiting and not (count.failed and policy not in _GO_ON):
        raise Waiting(count.waiting)
    last = tasks[-1] if tasks else None
    return last.result() if last is not None and last.done() and not last.cancelled() \
        and last.exception() is None else None
