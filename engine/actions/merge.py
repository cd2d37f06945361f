"""``merge``: combine the outputs of earlier steps."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..errors import ActionError
from .base import Action, Params


class MergeParams(Params):
    values: list[Any] = Field(description="The values to combine, in order")
    mode: Literal["auto", "update", "concat", "collect"] = Field(
        default="auto",
        description="auto: mappings merged, lists concatenated, else collected; "
        "update: merge mappings left to right; concat: concatenate lists; collect: the list as given",
    )


class Merge(Action):
    name = "merge"
    title = "Merge"
    description = "Merge mappings, concatenate lists, or collect values."
    category = "Data"
    Params = MergeParams

    async def run(self, params: MergeParams, ctx) -> Any:
        values, mode = params.values, params.mode
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
