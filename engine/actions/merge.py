"""``merge``: combine the outputs of earlier steps.

``mode: zip`` pairs lists element by element. Its result is counted before it is made: at
most MAX_ZIP_CELLS values in all (rows × lists), so a zip never builds more than a bounded
table on the event loop; its size as an output is then bounded like every step's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..errors import ActionError
from .base import Action, Params

#: values a zip may place in its rows in all (rows × lists)
MAX_ZIP_CELLS = 1_000_000


class MergeParams(Params):
    values: list[Any] | dict[str, Any] = Field(
        description="The values to combine, in order; for zip, a list of lists or a mapping of name → list")
    mode: Literal["auto", "update", "concat", "collect", "zip"] = Field(
        default="auto",
        description="auto: mappings merged, lists concatenated, else collected; "
        "update: merge mappings left to right; concat: concatenate lists; collect: the list as given; "
        "zip: lists paired element by element",
    )
    uneven: Literal["shortest", "longest", "fail"] = Field(
        default="shortest",
        description="zip: lists of different lengths give as many rows as the shortest, or the longest "
        "(missing places are null), or fail the step",
    )

    @field_validator("values", mode="before")
    @classmethod
    def _list_or_mapping(cls, value):
        if not isinstance(value, (list, dict)):  # one message, not one per member of the union
            raise ValueError("values takes a list (or, with mode: zip, a mapping of name → list)")
        return value

    @model_validator(mode="after")
    def _zip_only(self):
        if self.mode != "zip":
            if isinstance(self.values, dict):
                raise ValueError("values may be a mapping only with mode: zip")
            if "uneven" in self.model_fields_set:
                raise ValueError("uneven applies to mode: zip only")
        return self


class Merge(Action):
    name = "merge"
    title = "Merge"
    description = "Merge mappings, concatenate lists, collect values, or zip lists."
    category = "Data"
    eager = True  # plain awaits of futures only: see Action.eager
    Params = MergeParams

    async def run(self, params: MergeParams, ctx) -> Any:
        values, mode = params.values, params.mode
        if mode == "zip":
            return zip_values(values, params.uneven)
        if mode == "auto":
            present = [v for v in values if v is not None]
            if present and all(isinstance(v, dict) for v in present):
                mode = "update"
            elif present and all(isinstance(v, list) for v in present):
                mode = "concat"
            else:
                return list(values)
        if mode == "collect":
            return list(values)
        if mode == "update":
            merged: dict = {}
            for i, value in enumerate(values):
                if value is None:
                    continue
                if not isinstance(value, dict):
                    raise ActionError(f"merge update: values[{i}] is not a mapping", retryable=False)
                merged.update(value)
            return merged
        out: list = []
        for i, value in enumerate(values):
            if value is None:
                continue
            if not isinstance(value, list):
                raise ActionError(f"merge concat: values[{i}] is not a list", retryable=False)
            out.extend(value)
        return out


def zip_values(values: list | dict, uneven: str = "shortest") -> list:
    """Rows of the lists in ``values``: ``[[a0, b0], ...]``, or ``[{a: a0, b: b0}, ...]`` for a mapping.

    A null in place of a list counts as an empty list.
    """
    named = isinstance(values, dict)
    places = [f"values.{name}" for name in values] if named else [f"values[{i}]" for i in range(len(values))]
    lists = []
    for place, value in zip(places, values.values() if named else values):
        if value is None:
            value = []
        elif not isinstance(value, list):
            kind = "a mapping" if isinstance(value, dict) else type(value).__name__
            raise ActionError(f"merge zip: {place} is not a list (got {kind})", retryable=False)
        lists.append(value)
    if not lists:
        return []
    lengths = [len(value) for value in lists]
    if uneven == "fail" and len(set(lengths)) > 1:
        shown = ", ".join(f"{place} has {n:,}" for place, n in zip(places, lengths))
        raise ActionError(f"merge zip: the lists have different lengths ({shown[:300]})", retryable=False)
    rows = max(lengths) if uneven == "longest" else min(lengths)
    if rows * len(lists) > MAX_ZIP_CELLS:
        raise ActionError(f"merge zip: {rows:,} rows of {len(lists):,} values would be more than "
                          f"{MAX_ZIP_CELLS:,} values in all", retryable=False)
    columns = [value if len(value) == rows else value[:rows] + [None] * (rows - len(value)) for value in lists]
    if named:
        names = list(values)
        return [dict(zip(names, row)) for row in zip(*columns)]
    return [list(row) for row in zip(*columns)]
