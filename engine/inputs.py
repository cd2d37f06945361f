"""Run inputs: typed, defaulted and checked before a run starts."""

from __future__ import annotations

import json

from .errors import InputsInvalid
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
            if spec.type == "number" and isinstance(value, int) and not isinstance(value, bool):
                value = value
            elif spec.type == "integer" and isinstance(value, float) and value.is_integer():
                value = int(value)
            if not type_matches(spec.type, value):
                problems.append(f"input '{name}' must be of type {spec.type}, got {json.dumps(value)[:60]}")
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
