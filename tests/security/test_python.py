"""``python`` steps: hostile function names are refused; runaway calls are killed, their CPU freed."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import time

import pytest

import engine
from engine import pool
from engine.actions.python import Refused, call_in_worker, is_allowed, resolve
from tests.procs import cpu_seconds

ALLOWED = ("engine.functions.*", "tests.security.python_functions:*")
SETTINGS = engine.EngineSettings(python_allowed=ALLOWED)
F = "tests.security.python_functions"

GRAMMAR = "is not a 'module.path:function' name"
UNDERSCORE = "names starting with '_' are never allowed"
NOT_LISTED = "not allowed by the python allowlist"

HOSTILE = [
    # dunders and private names: the way to __path__, __builtins__ and friends
    ("engine.functions:__setattr__", UNDERSCORE),
    ("engine.functions:__builtins__", UNDERSCORE),
    ("engine.functions.__init__:word_count", UNDERSCORE),
    ("engine.functions.text:__dict__", UNDERSCORE),
    ("engine.functions._private:f", UNDERSCORE),
    (f"{F}:_hidden", UNDERSCORE),
    # modules, reached as attributes or as names
    ("engine.functions.text:re", "it is a module"),
    ("engine.functions:text", "engine.functions"),  # a package attribute that is a module, or none
    (f"{F}:os", "it is a module"),
    ("engine.functions.os:system", "cannot import"),
    # things that are not plain functions of that module
    (f"{F}:Thing", "it is a class"),
    (f"{F}:thing", "it is a Thing"),
    (f"{F}:bound", "it is a bound method"),
    (f"{F}:half", "it is a partial"),
    (f"{F}:len", "it is a builtin"),
    (f"{F}:getcwd", "it is a builtin"),
    (f"{F}:data", "it is a dict"),
    (f"{F}:rmtree", "it is shutil:rmtree, which the python allowlist does not allow"),
    ("engine.functions.text:missing", "has no function 'missing'"),
    # outside the patterns
    ("os:system", NOT_LISTED),
    ("builtins:eval", NOT_LISTED),
    ("engine.functionsX:y", NOT_LISTED),
    ("engine.runner:uuid", NOT_LISTED),
    ("tests.security.python_functionsX:spin", NOT_LISTED),
    # the grammar: attribute paths, relative names, odd characters
    ("engine.functions.text:word_count.__globals__", GRAMMAR),
    (f"{F}:Thing.method", GRAMMAR),
    ("examples.functions:json.loads", GRAMMAR),
    (".functions.text:upper", GRAMMAR),
    ("..text:upper", GRAMMAR),
    ("engine..functions.text:upper", GRAMMAR),
    ("engine.functions.text.upper", GRAMMAR),
    ("engine.functions.text:upper:x", GRAMMAR),
    ("engine.functions.text:", GRAMMAR),
    ("engine.functions.*:upper", GRAMMAR),
    ("engine.functions.text:up*", GRAMMAR),
    ("engine/functions/text:upper", GRAMMAR),
    (" engine.functions.text:upper", GRAMMAR),
    ("engine.functions.text:upper ", GRAMMAR),
    ("engine.functions.text:upper\n", GRAMMAR),
    ("engine.functions.text:upp\u0435r", GRAMMAR),  # a Cyrillic 'е'
    ("engine.functions.text:\uff55pper", GRAMMAR),  # a fullwidth 'ｕ' (NFKC would make it 'u')
    ("engine.functions.text:upper\x00", GRAMMAR),
    ("engine.functions." + "a" * 300 + ":f", GRAMMAR),
]


def workflow(function) -> str:
    return json.dumps({"name": "py", "steps": [{"id": "a", "uses": "python", "with": {"function": function}}]})


@pytest.mark.parametrize("name, reason", HOSTILE, ids=[repr(n)[:60] for n, _ in HOSTILE])
def test_hostile_names_are_refused_at_validation_with_the_reason(name, reason):
    issues = engine.validate(workflow(name), "hostile.json", settings=SETTINGS)
    assert [i.path for i in issues] == ["steps[0].with.function"], issues
    assert reason in issues[0].message


async def test_hostile_names_are_refused_again_at_run_time():
    plan = engine.plan(engine.load(json.dumps({
        "name": "py", "inputs": {"f": {"type": "string"}},
        "steps": [{"id": "a", "uses": "python", "with": {"function": "${inputs.f}"}}]}), "run.json", settings=SETTINGS))
    runner = engine.Runner(settings=SETTINGS)
    for name, reason in HOSTILE:
        result = await runner.run(plan, {"f": name})
        assert result.status == "failed" and reason in result.error, (name, result.error)


async def test_the_worker_checks_the_name_again_with_the_allowlist_that_came_with_the_call():
    # handed straight to the pool, past the action's own check
    async def in_worker(name, *args):
        return await pool.call(SETTINGS.python_workers, call_in_worker, name, ALLOWED, list(args), {})

    assert await in_worker("os:getcwd") == ("refused", f"'os:getcwd' is {NOT_LISTED}")
    assert (await in_worker(f"{F}:len", [1]))[0] == "refused"
    assert await in_worker("engine.functions.text:upper", "ab") == ("ok", '"AB"')


def test_allowed_names_and_what_the_patterns_mean():
    assert resolve("engine.functions.text:upper", ALLOWED)("a") == "A"
    assert resolve(f"{F}:upper", ALLOWED)("a") == "A"  # re-exported from a module the allowlist allows
    assert is_allowed("examples.functions:average", ["examples.functions"])  # a module: its functions
    assert is_allowed("examples.functions:average", ["examples.functions.*"])
    assert is_allowed("examples.functions:average", ["examples.functions:av*"])
    assert not is_allowed("examples.functions:analyze", ["examples.functions:av*"])
    importlib.import_module("examples.functions")
    with pytest.raises(Refused, match="it is a module"):  # the dotted name matches: the object does not pass
        resolve("examples:functions", ["examples.functions"])
    assert not is_allowed("examples.functionsX:average", ["examples.functions"])
    with pytest.raises(Refused, match="shutil:rmtree"):
        resolve(f"{F}:rmtree", ALLOWED)


def test_a_module_planted_in_sys_modules_is_refused():
    sys.modules["engine.functions.planted"] = os
    try:
        with pytest.raises(Refused, match="engine.functions.planted"):
            resolve("engine.functions.planted:getcwd", ALLOWED)
    finally:
        del sys.modules["engine.functions.planted"]


def test_a_widened_package_path_reaches_nothing_outside_the_package():
    functions = importlib.import_module("engine.functions")
    stdlib = os.path.dirname(os.__file__)
    functions.__path__.append(stdlib)  # what `engine.functions:__setattr__` was after
    try:
        with pytest.raises(Refused, match="searches other folders"):
            resolve("engine.functions.colorsys:rgb_to_hsv", ALLOWED)
        assert "engine.functions.colorsys" not in sys.modules
    finally:
        functions.__path__.remove(stdlib)


# -- the worker processes --------------------------------------------------------------------
def freed_within(pid: int, limit: float) -> float:
    """Seconds until ``pid`` stops using CPU (gone, or its CPU time still for 0.2 s)."""
    start = time.monotonic()
    last = cpu_seconds(pid)
    while last is not None and time.monotonic() - start < limit + 1:
        time.sleep(0.05)
        now = cpu_seconds(pid)
        if now is None:
            break
        if now == last and time.monotonic() - start > 0.2:
            break
        last = now
    return time.monotonic() - start


async def run(steps, runner=None, run_id=None):
    plan = engine.plan(engine.load(json.dumps({"name": "py", "steps": steps}), "run.json", settings=SETTINGS))
    return await (runner or engine.Runner(settings=SETTINGS)).run(plan, {}, run_id=run_id)


async def wait_for_pid(path) -> int:
    for _ in range(200):
        if path.exists() and path.read_text():
            return int(path.read_text())
        await asyncio.sleep(0.02)
    raise AssertionError("the runaway step never started")


async def test_a_timed_out_runaway_call_is_killed_its_cpu_freed_and_the_pool_heals(tmp_path):
    await run([{"id": "warm", "uses": "python", "with": {"function": f"{F}:pid"}}])
    pid_file = tmp_path / "pid"
    result = await run([{"id": "a", "uses": "python", "timeout": 0.5,
                         "with": {"function": f"{F}:spin", "args": [str(pid_file)]}}])
    assert result.status == "failed" and result.error == "a: timed out after 0.5 s"
    runaway = int(pid_file.read_text())
    assert freed_within(runaway, 1) < 1
    assert cpu_seconds(runaway) is None  # killed, not merely paused
    healed = await run([{"id": "b", "uses": "python", "with": {"function": f"{F}:count_to", "args": [1000]}},
                        {"id": "c", "uses": "python", "with": {"function": f"{F}:pid"}}])
    assert healed.status == "succeeded" and healed.outputs["b"] == 499500 and healed.outputs["c"] != runaway


async def test_cancelling_a_run_kills_its_runaway_call(tmp_path):
    pid_file = tmp_path / "pid"
    runner = engine.Runner(settings=SETTINGS)
    task = asyncio.create_task(run([{"id": "a", "uses": "python", "with": {"function": f"{F}:spin",
                                                                           "args": [str(pid_file)]}}],
                                    runner, run_id="r1"))
    runaway = await wait_for_pid(pid_file)
    assert runner.cancel("r1")
    result = await asyncio.wait_for(task, 2)
    assert result.status == "cancelled"
    assert freed_within(runaway, 1) < 1 and cpu_seconds(runaway) is None


async def test_a_dead_worker_fails_its_step_and_is_replaced():
    result = await run([{"id": "a", "uses": "python", "with": {"function": f"{F}:crash", "args": [3]}}])
    assert result.status == "failed" and "died (exit code 3)" in result.error
    again = await run([{"id": "b", "uses": "python", "with": {"function": f"{F}:count_to", "args": [10]}}])
    assert again.status == "succeeded" and again.outputs["b"] == 45


async def test_what_a_function_raises_is_its_steps_one_line_error_and_the_pool_goes_on():
    sink = engine.ListSink()
    plan = engine.plan(engine.load(json.dumps({"name": "py", "steps": [
        {"id": step, "uses": "python", "on_error": "continue", "with": {"function": f"{F}:{fn}", "args": args}}
        for step, fn, args in [("plain", "fails", ["kaput"]), ("odd", "fails_oddly", []), ("exit", "exits", []),
                               ("set", "not_json", []), ("after", "upper", ["still here"])]]}),
        "run.json", settings=SETTINGS))
    result = await engine.Runner(settings=SETTINGS).run(plan, {}, sink)
    assert result.status == "succeeded" and result.outputs["after"] == "STILL HERE"
    errors = {e.path: e.error for e in sink.of_type("step.failed")}
    assert errors == {"plain": "ValueError: kaput", "odd": "Unpicklable: left/right", "exit": "SystemExit: leaving",
                      "set": f"{F}:not_json returned a set, not JSON data"}


async def test_async_functions_are_checked_the_same_way_and_awaited():
    result = await run([{"id": "a", "uses": "python", "with": {"function": f"{F}:later", "args": [[1, "x"]]}}])
    assert result.outputs == {"a": [1, "x"]}


async def test_every_run_shares_one_thread_pool_and_closing_a_runner_leaves_it_working():
    import threading

    runners = [engine.Runner(settings=SETTINGS) for _ in range(20)]
    assert len({id(r.executor) for r in runners}) == 1
    runners[0].close()
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(runners[1].executor, sum, [1, 2]) == 3
    workers = [t for t in threading.enumerate() if t.name.startswith("wf-action")]
    assert workers and all(t.daemon for t in workers)  # a busy one never holds the server's exit up
