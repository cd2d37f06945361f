"""What every block shares: the failure policy of its children, and stopping them cleanly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine

from ..errors import StepFailed, Waiting

perf = time.perf_counter


def ms(started: float) -> float:
    return round((perf() - started) * 1000, 3)


def told(exc: StepFailed) -> str:
    """A failure as people read it: ``path: message``, where the message names the step that
    failed first once a block passed it on (``bookings.car.rent_car: no cars``, not every
    block's path on the way up)."""
    if getattr(exc, "named", False) or not exc.path:
        return exc.message
    return f"{exc.path}: {exc.message}"


def failed(path: str, message: str, cause: StepFailed | None = None, named: bool = False,
           cls=StepFailed) -> StepFailed:
    """A block's StepFailed; ``origin`` keeps the step that failed first (``${error}``) and
    ``named`` says the message already names it."""
    error = cls(path, message)
    if cause is not None:
        error.origin = getattr(cause, "origin", None) or (cause.path, cause.message)
    error.named = named
    return error


class Policy:
    """Counts finished children and decides when a block has won or lost.

    ``on_error``: fail_fast and rollback stop at the first failure; wait_all lets every child
    finish and then fails; continue succeeds whatever failed; ``min_success`` fails once fewer
    than that many children can still succeed. A child waiting for a person (``Waiting``) is
    parked: neither won nor lost; the block ends ``waiting`` when everything else is done.
    """

    def __init__(self, on_error: str, min_success: int | None, total: int, noun: str):
        self.on_error = on_error
        self.min_success = min_success
        self.total = total
        self.noun = noun
        self.ok = 0
        self.failed = 0
        self.first: StepFailed | None = None
        self.waiting: list[str] = []  # paths of steps waiting for a person
        self.parked = 0  # children that ended waiting

    @classmethod
    def of(cls, step, total: int, noun: str) -> Policy:
        return cls(step.on_error, getattr(step, "min_success", None), total, noun)

    def record(self, error: BaseException | None) -> bool:
        """Count one finished child; True when the block must stop now (it has lost)."""
        if error is None:
            self.ok += 1
            return False
        if isinstance(error, Waiting):
            self.parked += 1
            self.waiting.extend(error.paths)
            return False
        self.failed += 1
        self.first = self.first or error
        if self.min_success is not None:
            return self.total - self.failed < self.min_success  # out of reach
        return self.on_error in ("fail_fast", "rollback")

    def verdict(self) -> str | None:
        """The failure message once all children have finished, or None (success or waiting)."""
        if self.min_success is not None:
            return self.lost() if self.ok + self.parked < self.min_success else None
        if self.failed and self.on_error != "continue":
            return self.lost()
        return None

    def failure(self, path: str) -> StepFailed:
        """The block's StepFailed, its origin the child that failed first."""
        single = self.failed == 1 and self.first is not None and self.min_success is None
        return failed(path, self.lost(), self.first, named=single)

    def outcome(self, path: str) -> None:
        """What the block's end means: StepFailed when lost, Waiting while a child waits for a
        person (the block runs again when the run is continued), else nothing (success)."""
        if self.verdict():
            raise self.failure(path)
        if self.waiting:
            raise Waiting(self.waiting)

    def lost(self) -> str:
        first = f"; the first: {told(self.first)}" if self.first else ""
        if self.min_success is not None:
            return (f"{self.ok} of {self.total} {self.noun} succeeded, {self.min_success} needed "
                    f"({self.failed} failed){first}")
        if self.failed == 1 and self.first is not None:
            return told(self.first)
        return f"{self.failed} of {self.total} {self.noun} failed{first}"


async def stop(tasks) -> None:
    """Cancel what still runs and wait for it, so its events come before the block's own.

    Every task's error is retrieved even when this wait is itself cancelled (a block around
    this one stopping it): asyncio's logger must never print "Task exception was never
    retrieved" for an error the block reports.
    """
    tasks = [t for t in tasks if type(t) is not Done]  # ended at once: nothing to stop or retrieve
    pending = [t for t in tasks if not t.done()]
    for task in pending:
        task.cancel()
    try:
        if pending:
            await asyncio.wait(pending)
    finally:
        for task in tasks:
            if task.done() and not task.cancelled():
                task.exception()
            elif not task.done():
                task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()


# -- branches without a Task until they wait ------------------------------------------------------

class Done:
    """A branch that ended at its first step (``start``): read as a finished Task is."""

    __slots__ = ("value", "error")

    def __init__(self, value, error: BaseException | None):
        self.value, self.error = value, error

    def done(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return isinstance(self.error, asyncio.CancelledError)

    def exception(self):
        if self.cancelled():
            raise self.error
        return self.error

    def result(self):
        if self.error is not None:
            raise self.error
        return self.value

    def cancel(self, msg=None) -> bool:
        return False


class _Rest(Coroutine):
    """What is left of a coroutine that ``start`` ran up to a wait: its Task's first step hands
    the awaited future over (the Task waits for it as if it had been awaited in it), then every
    step and every cancel goes on into the coroutine itself."""

    __slots__ = ("coro", "waiting")
    _GONE = object()

    def __init__(self, coro, waiting):
        self.coro, self.waiting = coro, waiting

    def send(self, value):
        waiting = self.waiting
        if waiting is not _Rest._GONE:
            self.waiting = _Rest._GONE
            return waiting
        return self.coro.send(value)

    def throw(self, typ, val=None, tb=None):
        self.waiting = _Rest._GONE
        return self.coro.throw(typ, val, tb) if val is not None or tb is not None else self.coro.throw(typ)

    def close(self) -> None:
        self.coro.close()

    def __await__(self):
        return self


def start(loop, coro):
    """Run ``coro`` (a step's coroutine) up to its first wait, in the caller's task.

    A step that ends there (a no-op, a merge) needs no Task at all: it is a ``Done``. One that
    waits goes on in a Task of its own from where it stands, exactly as if it had been one from
    the start (same cancellation, same outcome). Only for steps whose code does not depend on
    which task runs it (``Action.eager``, no ``timeout``: ``asyncio.timeout`` binds to the
    current task). Its done callbacks, as a Task's, run only later: the caller runs them for a
    Done once every branch has started, in order, as the loop would have.
    """
    try:
        waiting = coro.send(None)
    except StopIteration as stop:
        return Done(stop.value, None)
    except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - the branch's outcome, as a Task keeps it
        return Done(None, exc)
    return loop.create_task(_Rest(coro, waiting))
