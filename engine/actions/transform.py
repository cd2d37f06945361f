"""``transform``: reshape data without running code — join, compute, pick, sort, group, sum, count."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..errors import ActionError, ExpressionError
from ..expressions import Evaluator
from .base import Action, Params


class JoinSpec(Params):
    with_: list[dict] = Field(alias="with", description="the other list of mappings")
    by: str = Field(description="the key both sides share (not `on`, which YAML reads as true)")


class TransformParams(Params):
    value: Any = Field(description="the data: usually an expression such as ${fetch.rows}")
    flatten: bool = Field(default=False, description="a list of lists becomes one list")
    join: JoinSpec | None = Field(default=None, description="merge each item with the other list's item "
                                                            "that has the same `by` key (a left join)")
    compute: dict[str, str] = Field(default_factory=dict, description="new fields: name → an expression over "
                                                                      "the item's fields, e.g. `sales - costs`")
    pick: list[str] | None = Field(default=None, description="keep only these keys of each mapping")
    sort_by: str | None = Field(default=None, description="a key to sort by; `-key` for descending")
    group_by: str | None = Field(default=None, description="a key: the output maps each value to its items")
    sum: str | None = Field(default=None, description="a numeric key to add up (per group with group_by)")
    count: bool = Field(default=False, description="count the items (per group with group_by)")


class Transform(Action):
    name = "transform"
    title = "Transform"
    description = "Reshape data: join, compute fields, pick keys, sort, group, sum and count."
    category = "Data"
    Params = TransformParams

    async def run(self, params: TransformParams, ctx) -> Any:
        data = params.value
        if params.flatten:
            data = [x for part in _list(data, "flatten") for x in (part if isinstance(part, list) else [part])]
        if params.join is not None:
            index = {row.get(params.join.by): row for row in params.join.with_ if isinstance(row, dict)}
            data = [{**index.get(_field(row, params.join.by), {}), **row} for row in _rows(data, "join")]
        if params.compute:
            evaluator = Evaluator()
            data = [_compute(row, params.compute, evaluator) for row in _rows(data, "compute")]
        if params.pick is not None:
            if isinstance(data, dict):
                data = {k: data[k] for k in params.pick if k in data}
            else:
                data = [{k: row[k] for k in params.pick if k in row} for row in _rows(data, "pick")]
        if params.sort_by:
            key = params.sort_by.lstrip("-")
            rows = _rows(data, "sort_by")
            try:
                data = sorted(rows, key=lambda row: (row.get(key) is None, row.get(key)),
                              reverse=params.sort_by.startswith("-"))
            except TypeError:
                raise ActionError(f"sort_by: the values of '{key}' cannot be compared", retryable=False) from None
        if params.group_by:
            groups: dict = {}
            for row in _rows(data, "group_by"):
                groups.setdefault(str(_field(row, params.group_by)), []).append(row)
            if params.sum:
                return {k: _sum(v, params.sum) for k, v in groups.items()}
            if params.count:
                return {k: len(v) for k, v in groups.items()}
            return groups
        if params.sum:
            return _sum(_rows(data, "sum"), params.sum)
        if params.count:
            return len(_list(data, "count"))
        return data


def _list(data, what: str) -> list:
    if not isinstance(data, list):
        raise ActionError(f"{what} needs a list, got {type(data).__name__}", retryable=False)
    return data


def _rows(data, what: str) -> list[dict]:
    rows = _list(data, what)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ActionError(f"{what} needs a list of mappings; item {i} is a {type(row).__name__}",
                              retryable=False)
    return rows


def _field(row: dict, key: str):
    if key not in row:
        raise ActionError(f"an item has no key '{key}' (keys: {', '.join(map(str, row))})", retryable=False)
    return row[key]


def _compute(row: dict, fields: dict[str, str], evaluator: Evaluator) -> dict:
    out = dict(row)
    for name, expression in fields.items():
        try:
            out[name] = evaluator.evaluate(expression, out)
        except ExpressionError as exc:
            raise ActionError(f"compute.{name}: {exc}", retryable=False) from None
    return out


def _sum(rows: list[dict], key: str):
    total = 0
    for row in rows:
        value = row.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ActionError(f"sum: '{key}' holds {value!r}, not a number", retryable=False)
        total += value
    return total
