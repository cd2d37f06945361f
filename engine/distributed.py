"""A foreach whose items run in other processes: the engine's two halves of it.

The run's own process keeps the block (``run_remote``): the items' order, the concurrency cap,
the failure policy and the progress events stay ``blocks.foreach.run_foreach``'s. What changes is
where each item's body runs. A *distributor*, a service the builder gives in the celery mode
(``services["distribute"]``), sends chunks of items to workers, forwards the item steps'
events into the run (``ex.forward``) and yields each item's end as it arrives. A worker runs
its chunk with ``Runner.run_items``, which comes here (``run_items``, ``run_part``).

The distributor's interface:

- ``wants(step, total) -> bool``: whether this foreach is spread (``distribute:``, a setting);
- ``run(ex, node, path, values, pending, total, limit, frames)``: an async iterator of
  ``(index, output, error, running)``: ``error`` is None or ``(failed step path, message)``,
  ``running`` the items under way now. At most ``limit`` items run at once across every
  worker; the work the workers did counts in ``frames`` (the enclosing blocks' stats). Closing
  it early (the block lost) stops the chunks and waits for their last events.

Items with stored steps of an earlier attempt of the run (a takeover) run here, where the
runner's resume data is: their stored steps are reused, never run again.
"""

from __future__ import annotations

import asyncio
import re

from . import events as ev
from .errors import StepFailed

_INDEX = re.compile(r"\[\d+\]")


def template(path: str) -> str:
    """A run-time step path without its foreach indexes: ``a[3].b`` → ``a.b``."""
    return _INDEX.sub("", path)


def find(nodes, path: str):
    """The plan node at a run-time step path (``a[3].b``), or None."""
    node = None
    for part in template(path).split("."):
        node = next((n for n in nodes if n.id == part), None)
        if node is None:
            return None
        nodes = node.children
    return node


def flatten(scope) -> dict:
    """The names a foreach body sees outside itself, as one dict (the innermost wins), without
    ``secrets`` (a worker reads the run owner's own)."""
    chain = []
    while scope is not None:
        chain.append(scope.values)
        scope = scope.parent
    values: dict = {}
    for layer in reversed(chain):
        values.update(layer)
    values.pop("secrets", None)
    return values


def item_scope(scope, name: str, item, index: int, total: int):
    """The scope of one item's body."""
    return scope.child({name: item, "loop": {"index": index, "first": index == 0, "last": index == total - 1,
                                             "length": total}})


def _resumed(ex, path: str) -> set[int]:
    """Items with stored steps (``ex.completed``): they go on here, reusing them."""
    if not ex.completed:
        return set()
    head = path + "["
    found = set()
    for key in ex.completed:
        if key.startswith(head):
            end = key.find("]", len(head))
            if end > 0 and key[len(head):end].isdigit():
                found.add(int(key[len(head):end]))
    return found


async def run_remote(ex, node, scope, path: str, items: list, policy, results: list, frames: tuple,
                     distributor) -> bool:
    """Run the foreach's items through ``distributor``; True when the block lost (stopped early)."""
    total = len(items)
    step = node.step
    ex.emit(ev.ForeachProgress, path, 0, 0, 0, total)
    here = _resumed(ex, path)
    for index in sorted(here):
        child = item_scope(scope, step.as_, items[index], index, total)
        try:
            results[index] = await ex.run_list(node.children, node.dag, child, f"{path}[{index}].", frames)
            lost = policy.record(None)
        except StepFailed as exc:
            lost = policy.record(exc)
        ex.emit(ev.ForeachProgress, path, policy.ok, policy.failed, 0, total)
        if lost:
            return True
    pending = [(index, items[index]) for index in range(total) if index not in here]
    if not pending:
        return False
    stream = distributor.run(ex, node, path, flatten(scope), pending, total, step.concurrency or 8, frames)
    try:
        async for index, output, error, running in stream:
            if error is None:
                results[index] = output
                lost = policy.record(None)
            else:
                lost = policy.record(StepFailed(*error))
            ex.emit(ev.ForeachProgress, path, policy.ok, policy.failed, running, total)
            if lost:
                return True
    finally:
        await stream.aclose()
    return False


async def run_part(ex, node, path: str, root, pairs: list, total: int, lanes: int, on_item) -> None:
    """A worker's chunk: the body of the foreach at ``path`` for ``pairs`` (index, item), ``lanes``
    at a time; ``on_item(index, output, error)`` after each (``error``: (path, message) or None)."""
    source = iter(pairs)
    body, dag, name = node.children, node.dag, node.step.as_

    async def lane() -> None:
        for index, item in source:
            child = item_scope(root, name, item, index, total)
            try:
                output = await ex.run_list(body, dag, child, f"{path}[{index}].", ())
            except StepFailed as exc:
                on_item(index, None, (exc.path, exc.message))
            else:
                on_item(index, output, None)

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(lane()) for _ in range(max(1, min(lanes, len(pairs))))]
    try:
        await asyncio.gather(*tasks)
    finally:
        pending = [t for t in tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
