"""Limits that hold for everything a host runs, not per run: concurrency slots and rates.

A skill's ``concurrency`` and the ``http`` action's ``host_concurrency`` and ``rate_limit`` are
taken through a *throttle*: ``services["throttle"]`` when the host provides one (the builder's
celery mode: ``builder/throttle.py``, on Redis, across every worker), else ``LOCAL``, this
process's registry (every run of the process shares it, whatever its event loop).

A throttle has two methods; a key is a tuple of strings (``("skill", name)``,
``("http-host", host, "4")``):

- ``slot(key, limit)``: an async context manager that holds one of ``limit`` slots of ``key``.
  Waiters are served first come, first served. A waiter cancelled holds nothing and gives
  back nothing but a slot handed to it in that same moment.
- ``pace(key, rate)``: returns when one more start fits ``rate`` a second: a bucket of
  ``max(1, rate)`` (a second's worth) at once, then one every ``1 / rate`` seconds.

What bounds them: a limit is an int >= 1 and a rate a number > 0 whose interval is finite
(else ``ValueError``); the local registry drops a key once nothing holds or waits for it, so
the keys a workflow invents do not pile up.

``turn(ctx, slots, rates)`` is how an action takes its turn: the time it waits is queued time,
reported with ``ctx.queued`` (not the step's work) and kept off the step's timeout where the
runner exposes that as ``ctx.deadline`` (the ``asyncio.Timeout`` around the action's call).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from contextlib import AsyncExitStack, asynccontextmanager

__all__ = ["LOCAL", "LocalThrottle", "check_limit", "check_rate", "queued", "turn"]

SWEEP_AT = 256  # idle rate entries are dropped once the registry holds this many (and twice as many after)


def check_limit(limit) -> int:
    """``limit`` as a number of slots, or ValueError."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"a concurrency limit is a whole number of at least 1, not {limit!r}")
    return limit


def check_rate(rate) -> float:
    """``rate`` (starts a second) as a float, or ValueError."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise ValueError(f"a rate is a number of starts a second, not {rate!r}") from None
    if isinstance(rate, bool) or not value > 0 or not math.isfinite(value) or not math.isfinite(1.0 / value):
        raise ValueError(f"a rate is a finite number of starts a second above 0, not {rate!r}")
    return value


def spacing(rate: float) -> tuple[float, float]:
    """(seconds between starts, seconds a start may come early): a bucket of ``max(1, rate)``."""
    interval = 1.0 / rate
    return interval, max(0.0, 1.0 - interval)


@asynccontextmanager
async def queued(ctx, cause: str = "slot", limit=None):
    """Time spent in here waits for a turn: reported as queued, and off the step's timeout; and,
    with its ``cause`` (``slot`` of ``limit``, or ``rate``), to the run's critical path."""
    deadline = getattr(ctx, "deadline", None)
    when = deadline.when() if deadline is not None and not deadline.expired() else None
    if when is not None:
        deadline.reschedule(None)
    start = time.monotonic()
    try:
        yield
    finally:
        waited = time.monotonic() - start
        ctx.queued(waited)
        told = ctx.services.get("waited")  # engine/critical.py: what held the run back
        if told is not None and waited > 0:
            told(ctx.path, cause, waited, limit)
        if when is not None and not deadline.expired():
            deadline.reschedule(when + waited)


@asynccontextmanager
async def turn(ctx, slots=(), rates=()):
    """Hold a slot of each ``(key, limit)`` (in order), then wait for each ``(key, rate)``; the
    body runs holding the slots, which are given back when it ends (or the wait is cancelled)."""
    throttle = ctx.services.get("throttle") or LOCAL
    async with AsyncExitStack() as held:
        if slots:
            async with queued(ctx, "slot", min(limit for _, limit in slots)):
                for key, limit in slots:
                    await held.enter_async_context(throttle.slot(key, limit))
        if rates:
            async with queued(ctx, "rate", min(rate for _, rate in rates)):
                for key, rate in rates:
                    await throttle.pace(key, rate)
        yield


class _Waiter:
    __slots__ = ("future", "limit", "granted")

    def __init__(self, future, limit: int):
        self.future = future
        self.limit = limit
        self.granted = False


class _Slots:
    __slots__ = ("held", "waiters")

    def __init__(self):
        self.held = 0
        self.waiters: deque[_Waiter] = deque()


class LocalThrottle:
    """The process's throttle: thread-safe, so runs on any event loop of the process share it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._slots: dict[tuple, _Slots] = {}
        self._paces: dict[tuple, list] = {}  # key -> [the theoretical arrival time of the next start]
        self._sweep_at = SWEEP_AT

    @asynccontextmanager
    async def slot(self, key: tuple, limit: int):
        """Hold one of ``limit`` slots of ``key`` for the body."""
        limit = check_limit(limit)
        entry = await self._acquire(key, limit)
        try:
            yield
        finally:
            with self._lock:
                self._release(key, entry)

    def holding(self, key: tuple) -> int:
        """How many hold a slot of ``key`` now (for tests and figures)."""
        with self._lock:
            entry = self._slots.get(key)
            return entry.held if entry is not None else 0

    async def _acquire(self, key: tuple, limit: int) -> _Slots:
        with self._lock:
            entry = self._slots.get(key)
            if entry is None:
                entry = self._slots[key] = _Slots()
            if not entry.waiters and entry.held < limit:
                entry.held += 1
                return entry
            waiter = _Waiter(asyncio.get_running_loop().create_future(), limit)
            entry.waiters.append(waiter)
        try:
            await waiter.future
        except BaseException:  # cancelled: a slot handed over meanwhile goes on to the next
            with self._lock:
                if waiter.granted:
                    self._release(key, entry)
                else:
                    entry.waiters.remove(waiter)
                    self._wake(key, entry)  # a waiter with a smaller limit may have held the line
            raise
        return entry

    def _release(self, key: tuple, entry: _Slots) -> None:
        entry.held -= 1
        self._wake(key, entry)

    def _wake(self, key: tuple, entry: _Slots) -> None:
        """Hand free slots to the waiters at the head of the line (the lock is held)."""
        while entry.waiters and entry.held < entry.waiters[0].limit:
            waiter = entry.waiters.popleft()
            try:
                waiter.future.get_loop().call_soon_threadsafe(_grant, waiter.future)
            except RuntimeError:  # its loop has closed: nobody is waiting there any more
                continue
            waiter.granted = True
            entry.held += 1
        if not entry.held and not entry.waiters and self._slots.get(key) is entry:
            del self._slots[key]

    async def pace(self, key: tuple, rate: float) -> None:
        """Return when one more start of ``key`` fits ``rate`` a second."""
        interval, early = spacing(check_rate(rate))
        with self._lock:
            now = time.monotonic()
            entry = self._paces.get(key)
            if entry is None:
                if len(self._paces) >= self._sweep_at:
                    self._sweep(now)
                entry = self._paces[key] = [now]
            due = max(entry[0], now)
            start = max(due - early, now)
            entry[0] = mine = due + interval
        if start <= now:
            return
        try:
            await asyncio.sleep(start - now)
        except BaseException:  # cancelled before its start: the last one in gives its place back
            with self._lock:
                if entry[0] == mine:
                    entry[0] -= interval
            raise

    def _sweep(self, now: float) -> None:
        for key in [k for k, entry in self._paces.items() if entry[0] <= now]:
            del self._paces[key]
        self._sweep_at = max(SWEEP_AT, 2 * len(self._paces))


def _grant(future) -> None:
    if not future.done():
        future.set_result(None)


LOCAL = LocalThrottle()
