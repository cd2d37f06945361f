"""Unstorable values never corrupt a run: outputs are JSON-safe data at the step boundary.

A step's output is converted where a clear convention exists and refused, naming the
value's place, where none does; a run's inputs are refused before it starts.
"""

import asyncio
import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest

import engine
from engine import Action, Params, default_registry


class HostileParams(Params):
    case: str


def _deep(levels: int):
    value = []
    for _ in range(levels):
        value = [value]
    return value


CASES = {
    "nan": {"rows": [{"total": float("nan")}]},
    "inf": {"rows": [{"total": 1.0}, {"total": float("inf")}]},
    "minus_inf": [float("-inf")],
    "huge_int": {"n": 10**5000},
    "int_65_bits": {"n": 2**64},
    "binary": {"blob": b"\xff\xfe\x00"},
    "object": {"x": object()},
    "tuple_key": {(1, 2): "a"},
    "deep": _deep(200),
    # 500 million elements as JSON, 100,000 in memory: refused without walking them all
    "shared": [[0] * 100_000] * 5_000,
    "nan_key": {float("nan"): 1},
    "decimal_nan": {"d": Decimal("NaN")},
    # converted
    "set": {"tags": {"b", "a", "c"}},
    "tuple": (1, (2, 3)),
    "dates": {"day": dt.date(2026, 1, 2), "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)},
    "decimal": {"price": Decimal("2.50"), "count": Decimal("3")},
    "text_bytes": {"body": "héllo".encode()},
    "int_keys": {1: "one", None: "none", 2.5: "yes"},
    "uuid": {"id": uuid.UUID(int=7)},
    "surrogate": {"text": "a\ud800b"},
    "fine": {"rows": [{"total": 1.5, "n": 2**63 - 1}]},
}


class Hostile(Action):
    """Returns one of ``CASES`` (as a buggy or hostile action or python function would)."""

    name = "hostile"
    Params = HostileParams

    async def run(self, params, ctx):
        return CASES[params.case]


def registry():
    reg = default_registry()
    reg.register(Hostile)
    return reg


def run(text: str, inputs=None):
    reg = registry()
    workflow = engine.load(text, registry=reg)
    sink = engine.ListSink()
    result = asyncio.run(engine.Runner(reg).run(engine.plan(workflow, reg), inputs, sink))
    return result, sink.events


def one_step(case: str):
    return run(f"name: t\nsteps:\n  - {{id: s, uses: hostile, with: {{case: {case}}}}}\n")


REFUSED = {
    "nan": "output.rows[0].total is nan",
    "inf": "output.rows[1].total is inf",
    "minus_inf": "output[0] is -inf",
    "huge_int": "output.n is an integer of about 5,001 digits",
    "int_65_bits": "output.n is an integer of about 20 digits, beyond 64 bits",
    "binary": "output.blob is bytes that are not UTF-8 text",
    "object": "output.x is of type object, not JSON data",
    "tuple_key": "has a key of type tuple",
    "deep": "is nested deeper than 100 levels",
    "shared": "output is larger than 32 MiB as JSON",
    "nan_key": "has the key nan",
    "decimal_nan": "output.d is Decimal('NaN')",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_unstorable_output_fails_its_step_naming_the_place(case):
    result, events = one_step(case)
    assert result.status == "failed"
    failed = [e for e in events if e.type == "step.failed"]
    assert failed and failed[0].path == "s" and REFUSED[case] in failed[0].error, failed[0].error
    for event in events:  # whatever happened, every event is strict JSON
        json.dumps(event.as_dict(), allow_nan=False)


CONVERTED = {
    "set": {"tags": ["a", "b", "c"]},
    "tuple": [1, [2, 3]],
    "dates": {"day": "2026-01-02", "at": "2026-01-02T03:04:05+00:00"},
    "decimal": {"price": 2.5, "count": 3},
    "text_bytes": {"body": "héllo"},
    "int_keys": {"1": "one", "null": "none", "2.5": "yes"},
    "uuid": {"id": "00000000-0000-0000-0000-000000000007"},
    "surrogate": {"text": "a\ufffdb"},
    "fine": {"rows": [{"total": 1.5, "n": 2**63 - 1}]},
}


@pytest.mark.parametrize("case", sorted(CONVERTED))
def test_values_with_a_clear_convention_are_converted(case):
    result, events = one_step(case)
    assert result.status == "succeeded", result.error
    assert result.outputs["s"] == CONVERTED[case]
    json.dumps(result.outputs, allow_nan=False)


def test_an_expression_cannot_smuggle_nan_into_a_stored_output():
    result, events = run("name: t\nsteps:\n  - {id: w, uses: wait, with: {seconds: 0, value: \"${float('nan')}\"}}\n")
    assert result.status == "failed" and "output is nan" in result.error


def test_resolved_inputs_shown_in_events_are_strict_json():
    result, events = run("name: t\nsteps:\n  - id: w\n    uses: wait\n    on_error: continue\n"
                         "    with: {seconds: 0, value: \"${[float('inf'), 1]}\"}\n")
    started = [e for e in events if e.type == "step.started"][0]
    assert started.inputs["value"] == [None, 1]
    json.dumps(started.inputs, allow_nan=False)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**30])
def test_run_inputs_that_json_cannot_hold_are_refused_before_the_run(value):
    text = "name: t\ninputs: {x: {type: object}}\nsteps:\n  - {id: w, uses: wait, with: {seconds: 0}}\n"
    with pytest.raises(engine.InputsInvalid, match="input.? '?x"):
        run(text, {"x": {"v": value}} if not isinstance(value, float) else {"x": {"v": value}})
