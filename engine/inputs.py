"""Run inputs: typed, defaulted and checked before a run starts."""

from __future__ import annotations

import json
import math

from .errors import InputsInvalid
from .source import MAX_INT, MIN_INT
from .spec import Workflow
from .validate import type_matches


def parse_cli_value(kind: str, text: str):
    """A ``--input NAME=VALUE`` string as the input's declared type."""
    if kind == "string":
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text  # reported as a type error below


def coerce_inputs(workflow: Workflow, given: dict | None) -> dict:
    """Defaults applied and types checked; raise InputsInvalid naming every bad input."""
    given = dict(given or {})
    problems: list[str] = []
    values: dict = {}
    for name in given:
        if name not in workflow.inputs:
            known = ", ".join(workflow.inputs) or "none"
            problems.append(f"unknown input '{name}' (inputs: {known})")
    for name, spec in workflow.inputs.items():
        if name in given:
            value = given[name]
            if spec.type == "integer" and isinstance(value, float) and value.is_integer():
                value = int(value)
            problem = unstorable(value)
            if problem:
                problems.append(f"input '{name}' {problem}")
                continue
            if not type_matches(spec.type, value):
                problems.append(f"input '{name}' must be of type {spec.type}, got {_shown(value)}")
                continue
            if spec.enum is not None and value not in spec.enum:
                problems.append(f"input '{name}' must be one of {spec.enum}")
                continue
            values[name] = value
        elif "default" in spec.model_fields_set:
            values[name] = spec.default
        elif spec.is_required:
            problems.append(f"missing required input '{name}' ({spec.type})")
        else:
            values[name] = None
    if problems:
        raise InputsInvalid(problems)
    return values


def unstorable(value) -> str | None:
    """What makes ``value`` unfit for a run (which stores it as JSON), or None.

    Integers beyond 64 bits and NaN/infinity are refused here, before the run exists: they
    would be refused by the database or a browser later, and a 5 000-digit integer cannot even
    be printed. Walked without recursion, so any depth is safe.
    """
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, bool) or item is None or isinstance(item, str):
            continue
        if isinstance(item, int):
            if not MIN_INT <= item <= MAX_INT:
                return f"holds an integer out of range (integers are 64-bit: {MIN_INT} to {MAX_INT})"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "holds NaN or infinity, which JSON cannot hold"
        elif isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, (list, tuple)):
            todo.extend(item)
    return None


def _shown(value) -> str:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= 60 else text[:60] + "…"
