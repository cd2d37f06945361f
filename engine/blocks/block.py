"""One block step's life: its events, timeout, timing, rollback and hooks.

started → the block's own work (``_inner``: parallel, foreach, group, repeat, switch) → on a
failure: roll back (``on_error: rollback``), then ``on_failure``; always ``finally`` → the
block's terminal event. A cancelled block still runs ``finally`` (bounded). A block whose
step waits for a person ends without a terminal event: it runs again when the run goes on.
"""

from __future__ import annotations

import asyncio

from .. import events as ev
from ..errors import BudgetExceeded, StepFailed, StepTimeout, Waiting
from ..stats import BlockStat
from .common import failed, ms, perf, told
from .compensation import LEDGER, Ledger, rollback, rollback_note
from .foreach import run_foreach
from .hooks import finally_after_cancel, origin, run_hooks
from .parallel import run_parallel
from .repeat import run_repeat
from .switch import Skip, run_switch


SKIPPED = object()  # run_block's answer for a block that skipped itself (a switch without a case)


async def run_block(ex, node, scope, path: str, frames: tuple):
    """Run a parallel, foreach, group or switch step; its output, or SKIPPED."""
    stat = None
    if node.kind in ("parallel", "foreach"):
        stat = ex.stats.get(node.id)
        if stat is None:
            stat = ex.stats[node.id] = BlockStat(node.id, node.kind)
        frames = frames + (stat,)
    ex.emit(ev.StepStarted, path, node.id, node.kind, None, 1, None)
    started = perf()
    span = stat.begin() if stat is not None else None  # the block's wall: the union of its instances
    parent = LEDGER.get()
    rolls_back = node.policy == "rollback"
    ledger = Ledger(parent) if rolls_back or (node.compensate is not None and parent is not None) else None
    token = LEDGER.set(ledger) if ledger is not None else None
    failure: StepFailed | None = None
    try:
        try:
            output = await _timed(ex, node, scope, path, frames)
        finally:
            if token is not None:
                LEDGER.reset(token)
            if stat is not None:
                stat.end(span)
    except asyncio.CancelledError:
        if ledger is not None:
            ledger.hand_up()  # an outer rollback (the reason of the cancel, often) undoes them
        await finally_after_cancel(ex, node.finally_, scope, path + ".")
        ex.emit(ev.StepCancelled, path, ms(started))
        raise
    except Skip as exc:
        ex.emit(ev.StepSkipped, path, str(exc))
        return SKIPPED
    except Waiting:
        if ledger is not None:
            ledger.hand_up()
        raise
    except BudgetExceeded as exc:  # ends the whole run: the block ends with it
        ex.emit(ev.StepFailed, path, str(exc), 1, ms(started), False)
        raise
    except StepFailed as exc:
        failure = exc
    except TimeoutError:  # the block's own timeout (an inner one is a StepTimeout, caught above)
        failure = StepTimeout(path, f"timed out after {node.step.timeout:g} s")
    if failure is None:
        if ledger is not None and node.compensate is None:
            ledger.hand_up()  # else the block's own compensation stands for its steps
        hook = await run_hooks(ex, None, node.finally_, scope, path + ".", "succeeded", None, frames)
        if hook is None:
            ex.emit(ev.StepSucceeded, path, ex.clean(output), 1, ms(started), False)
            return output
        failure = StepFailed(path, f"finally: {hook}")
        message = failure.message
    else:
        message = failure.message if failure.path == path else told(failure)
        if rolls_back:
            message += rollback_note(await rollback(ex, ledger, path, node.kind == "foreach"))
        elif ledger is not None:
            ledger.hand_up()
        await run_hooks(ex, node.on_failure, node.finally_, scope, path + ".", "failed", origin(failure), frames)
    ex.emit(ev.StepFailed, path, ex.clean(message), 1, ms(started), False)
    named = getattr(failure, "named", False) if failure.path == path else True
    raise failed(path, message, failure, named, StepTimeout if isinstance(failure, StepTimeout) else StepFailed) \
        from None


async def _timed(ex, node, scope, path: str, frames: tuple):
    timeout = node.step.timeout
    if timeout is None:
        return await _inner(ex, node, scope, path, frames)
    async with asyncio.timeout(timeout) as deadline:
        try:
            return await _inner(ex, node, scope, path, frames)
        except TimeoutError:
            if deadline.expired():
                raise
            raise StepFailed(path, "timed out") from None  # a TimeoutError of an action's own


async def _inner(ex, node, scope, path: str, frames: tuple):
    if node.kind == "parallel":
        return await run_parallel(ex, node, scope, path, frames)
    if node.kind == "foreach":
        return await run_foreach(ex, node, scope, path, frames)
    if node.kind == "switch":
        return await run_switch(ex, node, scope, path, frames)
    if node.until is not None:
        return await run_repeat(ex, node, scope, path, frames)
    return await ex.run_list(node.children, node.dag, scope, path + ".", frames, node.policy)
