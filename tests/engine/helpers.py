"""Functions that tests call through ``python`` steps, and a helper to run YAML text."""

from __future__ import annotations

import asyncio
import os
import textwrap
import threading
import time

import engine

SETTINGS = engine.EngineSettings(python_allowed=("tests.engine.helpers:*", "engine.functions.*"))
_counters: dict[str, int] = {}
_lock = threading.Lock()
active = {"now": 0, "peak": 0}


async def flaky(key: str, failures: int, value="ok"):
    """Fails the first ``failures`` calls for ``key``, then returns ``value`` (async: it runs in
    this process, where the test reads its counts; plain functions run in worker processes)."""
    with _lock:
        _counters[key] = _counters.get(key, 0) + 1
        calls = _counters[key]
    if calls <= failures:
        raise RuntimeError(f"flaky failure {calls}")
    return {"value": value, "calls": calls}


def calls(key: str) -> int:
    return _counters.get(key, 0)


def blocking_sleep(seconds: float, value=None):
    """Sync code that blocks its thread (must run in the pool, not on the loop)."""
    time.sleep(seconds)
    return value


async def tracked(seconds: float, value=None):
    """Counts how many calls run at once (``active['peak']``)."""
    active["now"] += 1
    active["peak"] = max(active["peak"], active["now"])
    try:
        await asyncio.sleep(seconds)
    finally:
        active["now"] -= 1
    return value


def process_id():
    return os.getpid()


def not_json():
    return object()


async def explode(message: str):
    raise ValueError(message)


def load(text: str, **kwargs):
    return engine.load(textwrap.dedent(text), "test.yaml", settings=SETTINGS, **kwargs)


async def run(text: str, inputs=None, **kwargs):
    """Load, plan and run YAML text; return (result, events)."""
    workflow = load(text)
    runner = engine.Runner(settings=SETTINGS, secrets=kwargs.pop("secrets", None))
    sink = engine.ListSink()
    try:
        result = await runner.run(engine.plan(workflow), inputs, sink, **kwargs)
    finally:
        runner.close()
    return result, sink


def statuses(sink) -> dict:
    """Final status per step path."""
    table = engine.StepTable()
    for event in sink.events:
        table.emit(event)
    return {path: row["status"] for path, row in table.steps.items()}


async def explode_later(seconds: float, message: str):
    """Fails after ``seconds`` (branches that fail at nearly the same moment)."""
    await asyncio.sleep(seconds)
    raise ValueError(message)


async def fail_on(value, bad):
    """Returns ``value``, or fails when it equals ``bad``."""
    if value == bad:
        raise ValueError(f"{value} is bad")
    return value


async def stubborn(seconds: float, cleanup: float):
    """Runs ``seconds``; when cancelled, takes ``cleanup`` seconds more to stop."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        await asyncio.sleep(cleanup)
        raise
