"""The transform action: pure data reshaping, no code."""

import json

import pytest

from tests.engine.helpers import run

SALES = [{"region": "north", "sales": 120}, {"region": "south", "sales": 80}, {"region": "east", "sales": 50}]
COSTS = [{"region": "north", "costs": 70}, {"region": "south", "costs": 95}, {"region": "east", "costs": 10}]


async def transform(**with_):
    body = json.dumps({"id": "t", "uses": "transform", "with": with_})
    result, _ = await run(f"name: t\nsteps:\n  - {body}\n")
    return result


async def test_join_compute_pick_and_sort():
    result = await transform(value=SALES, join={"with": COSTS, "by": "region"},
                             compute={"profit": "sales - costs", "margin": "round(profit / sales, 2)"},
                             pick=["region", "profit", "margin"], sort_by="-profit")
    assert result.outputs["t"] == [{"region": "north", "profit": 50, "margin": 0.42},
                                   {"region": "east", "profit": 40, "margin": 0.8},
                                   {"region": "south", "profit": -15, "margin": -0.19}]


async def test_join_leaves_unmatched_items_as_they_are():
    result = await transform(value=SALES, join={"with": COSTS[:2], "by": "region"})
    assert result.outputs["t"][2] == {"region": "east", "sales": 50}


@pytest.mark.parametrize("extra, expected", [
    ({"group_by": "kind"}, {"a": [{"kind": "a", "n": 1}, {"kind": "a", "n": 3}], "b": [{"kind": "b", "n": 2}]}),
    ({"group_by": "kind", "sum": "n"}, {"a": 4, "b": 2}),
    ({"group_by": "kind", "count": True}, {"a": 2, "b": 1}),
    ({"sum": "n"}, 6),
    ({"count": True}, 3),
    ({"sort_by": "n", "pick": ["n"]}, [{"n": 1}, {"n": 2}, {"n": 3}]),
])
async def test_group_sum_count(extra, expected):
    rows = [{"kind": "a", "n": 1}, {"kind": "b", "n": 2}, {"kind": "a", "n": 3}]
    assert (await transform(value=rows, **extra)).outputs["t"] == expected


async def test_flatten_and_pick_on_a_mapping():
    assert (await transform(value=[[1, 2], [3], 4], flatten=True)).outputs["t"] == [1, 2, 3, 4]
    assert (await transform(value={"a": 1, "b": 2, "c": 3}, pick=["a", "c"])).outputs["t"] == {"a": 1, "c": 3}


@pytest.mark.parametrize("with_, message", [
    ({"value": 5, "count": True}, "count needs a list, got int"),
    ({"value": [1, 2], "sort_by": "x"}, "sort_by needs a list of mappings; item 0 is a int"),
    ({"value": [{"a": "x"}], "sum": "a"}, "sum: 'a' holds 'x', not a number"),
    ({"value": [{"a": 1}], "group_by": "b"}, "an item has no key 'b'"),
    ({"value": [{"a": 1}], "compute": {"b": "__import__('os')"}}, "compute.b"),
    ({"value": [{"a": 1}], "compute": {"b": "a.upper()"}}, "compute.b"),
])
async def test_bad_data_fails_with_one_clear_line(with_, message):
    result = await transform(**with_)
    assert result.status == "failed" and message in result.error and "\n" not in result.error
