"""``merge`` with ``mode: zip``: lists paired element by element, bounded, with clear errors."""

import json
import time

import pytest

import engine
from engine.actions.merge import MAX_ZIP_CELLS, zip_values
from engine.errors import ActionError
from tests.engine.helpers import SETTINGS, run


def zip_step(values, **extra) -> str:
    params = {"values": values, "mode": "zip", **extra}
    return f"name: m\nsteps:\n  - {{id: m, uses: merge, with: {json.dumps(params)}}}\n"


@pytest.mark.parametrize("values, extra, expected", [
    ([[1, 2, 3], ["a", "b", "c"]], {}, [[1, "a"], [2, "b"], [3, "c"]]),
    ({"id": [1, 2], "name": ["ada", "bob"]}, {}, [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}]),
    ([[1, 2, 3], ["a"]], {}, [[1, "a"]]),
    ([[1, 2, 3], ["a"]], {"uneven": "shortest"}, [[1, "a"]]),
    ([[1, 2, 3], ["a"]], {"uneven": "longest"}, [[1, "a"], [2, None], [3, None]]),
    ({"n": [1, 2], "s": ["x"]}, {"uneven": "longest"}, [{"n": 1, "s": "x"}, {"n": 2, "s": None}]),
    ([[1, 2], None], {}, []),  # a null (a skipped step's output) counts as an empty list
    ([[1, 2], None], {"uneven": "longest"}, [[1, None], [2, None]]),
    ([[1, 2]], {}, [[1], [2]]),
    ([], {}, []),
    ({}, {}, []),
    ([[[1], {"a": 1}], [None, True]], {}, [[[1], None], [{"a": 1}, True]]),
    ([[1, 2], [3, 4]], {"uneven": "fail"}, [[1, 3], [2, 4]]),
])
async def test_zip_pairs_lists_element_by_element(values, extra, expected):
    result, _ = await run(zip_step(values, **extra))
    assert result.status == "succeeded", result.error
    assert result.outputs == {"m": expected}


async def test_zip_of_step_outputs_by_name():
    result, _ = await run("""
name: m
steps:
  - {id: ids, uses: wait, with: {seconds: 0, value: [1, 2, 3]}}
  - {id: names, uses: wait, with: {seconds: 0, value: [ada, bob, cy]}}
  - {id: rows, uses: merge, with: {mode: zip, values: {id: "${ids}", name: "${names}"}}}
""")
    assert result.outputs["rows"] == [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}, {"id": 3, "name": "cy"}]


@pytest.mark.parametrize("values, extra, message", [
    ([[1], "ab"], {}, "merge zip: values[1] is not a list (got str)"),
    ({"a": [1], "b": {"x": 1}}, {}, "merge zip: values.b is not a list (got a mapping)"),
    ([[1], 3], {}, "values[1] is not a list (got int)"),
    ([[1, 2], [1]], {"uneven": "fail"},
     "merge zip: the lists have different lengths (values[0] has 2, values[1] has 1)"),
])
async def test_zip_errors_name_the_value(values, extra, message):
    result, _ = await run(zip_step(values, **extra))
    assert result.status == "failed" and message in result.error, result.error


@pytest.mark.parametrize("params, message", [
    ({"values": {"a": [1]}}, "values may be a mapping only with mode: zip"),
    ({"values": {"a": [1]}, "mode": "concat"}, "values may be a mapping only with mode: zip"),
    ({"values": [[1]], "mode": "concat", "uneven": "longest"}, "uneven applies to mode: zip only"),
    ({"values": [[1]], "mode": "zip", "uneven": "widest"}, "uneven"),
    ({"values": 3, "mode": "zip"}, "values takes a list (or, with mode: zip, a mapping of name → list)"),
    ({"values": "text"}, "values takes a list"),
])
def test_wrong_parameters_are_validation_errors(params, message):
    text = f"name: m\nsteps:\n  - {{id: m, uses: merge, with: {json.dumps(params)}}}\n"
    found = [i.format("wf.yaml") for i in engine.validate(text, "wf.yaml", settings=SETTINGS)]
    assert len(found) == 1 and message in found[0] and "steps[0].with" in found[0], found


def test_the_schema_offers_zip_and_uneven():
    merge = next(d for d in engine.default_registry().describe() if d["name"] == "merge")
    schema = merge["schema"]
    assert schema["properties"]["mode"]["enum"] == ["auto", "update", "concat", "collect", "zip"]
    assert schema["properties"]["uneven"]["enum"] == ["shortest", "longest", "fail"]


# ---- hostile input -------------------------------------------------------------------------

@pytest.mark.parametrize("values, uneven", [
    ([list(range(600_000)), list(range(600_000))], "shortest"),
    ([list(range(2_000_000)), []], "longest"),
    ({f"k{i}": [0] * 200 for i in range(10_000)}, "shortest"),
])
def test_a_zip_past_the_cap_is_refused_before_it_is_made(values, uneven):
    start = time.perf_counter()
    with pytest.raises(ActionError, match=f"more than {MAX_ZIP_CELLS:,} values in all"):
        zip_values(values, uneven)
    assert time.perf_counter() - start < 0.5


def test_a_zip_up_to_the_cap_is_made_quickly():
    start = time.perf_counter()
    rows = zip_values({f"c{i}": list(range(100_000)) for i in range(10)})
    assert len(rows) == 100_000 and rows[-1]["c9"] == 99_999
    assert time.perf_counter() - start < 1.0


def test_the_message_about_uneven_lengths_stays_short():
    with pytest.raises(ActionError) as info:
        zip_values([[1]] + [[]] * 10_000, "fail")
    assert len(str(info.value)) < 400


def test_a_shared_list_many_times_over_is_not_copied_past_the_cap():
    shared = list(range(100_000))
    with pytest.raises(ActionError, match="would be more than"):
        zip_values([shared] * 11)
    assert len(zip_values([shared] * 10)) == 100_000
