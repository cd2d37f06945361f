"""``on_failure`` and ``finally`` of a block or of the run.

Inside them ``${error}`` is ``{step, message}`` of the first failure (null when none) and
``${run.status}`` the outcome so far (succeeded, failed or cancelled). A failure inside a hook
is recorded (its steps' events) and never hides the original one. After a cancel, ``finally``
still runs, bounded by the ``finally_grace`` setting.
"""

from __future__ import annotations

import asyncio

from ..errors import BudgetExceeded, StepFailed, Waiting


def origin(exc: StepFailed | None) -> dict | None:
    """``${error}``: the step that failed first and its message."""
    if exc is None:
        return None
    path, message = getattr(exc, "origin", None) or (exc.path, exc.message)
    return {"step": path, "message": message}


async def run_hooks(ex, on_failure, finally_, scope, prefix: str, status: str, error: dict | None,
                    frames: tuple = ()) -> str | None:
    """Run ``on_failure`` (when ``status`` is failed) then ``finally``; the first hook failure."""
    if not on_failure and not finally_:
        return None
    inner = scope.child({"error": error, "run": {"status": status, "id": ex.run_id}})
    failure = None
    for lists in ((on_failure if status == "failed" else None), finally_):
        if lists is None:
            continue
        nodes, dag = lists
        try:
            await ex.run_list(nodes, dag, inner, prefix, frames)
        except StepFailed as exc:
            failure = failure or str(exc)
        except BudgetExceeded as exc:  # the step that went past it is failed already
            failure = failure or str(exc)
        except Waiting:
            failure = failure or "an approval cannot wait in on_failure or finally"
    return failure


async def finally_after_cancel(ex, finally_, scope, prefix: str) -> None:
    """Run ``finally`` of a cancelled block or run, for at most ``finally_grace`` seconds.

    It runs in a task of its own: the cancelled task only waits for it, and gives up (cancelling
    it) after the grace period or when it is cancelled once more. When the run itself was
    cancelled, the grace period is the run's: nested blocks' ``finally`` steps and the run's own
    share it (it starts at the first of them).
    """
    if not finally_:
        return
    loop = asyncio.get_running_loop()
    grace = ex.runner.settings.finally_grace
    if ex.cancel_requested:  # the whole run stops: every block's finally and the run's share one grace
        if ex.grace_until is None:
            ex.grace_until = loop.time() + grace
        grace = max(ex.grace_until - loop.time(), 0.0)
    task = loop.create_task(run_hooks(ex, None, finally_, scope, prefix, "cancelled", None))
    try:
        await asyncio.wait({task}, timeout=grace)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
        if not task.cancelled():
            task.exception()
