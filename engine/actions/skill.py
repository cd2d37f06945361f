"""Skills: named presets of an action with their own declared inputs.

A skill runs its action with its configuration, in which ``${inputs.*}`` refers to the
skill's inputs (the step's ``with``), checked against the skill's JSON Schema.

A skill's ``concurrency`` is global: at most that many of its steps run at once in the whole
process, or across every worker where the host provides a throttle (engine/throttle.py). A
step waiting for a slot is queued, not working, and its timeout does not run meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonschema
from pydantic import BaseModel, ConfigDict, ValidationError

from .. import throttle
from ..errors import ActionError, ExpressionError
from ..expressions import Evaluator, expressions_in, has_expression, render
from .base import Action, _under_expression


@dataclass(frozen=True)
class SkillSpec:
    """What an admin declares about a skill."""

    name: str
    action: str
    config: dict = field(default_factory=dict)
    input_schema: dict = field(default_factory=lambda: {"type": "object"})
    output_schema: dict | None = None
    title: str = ""
    description: str = ""
    category: str = "Skills"
    concurrency: int | None = None


class _SkillParams(BaseModel):
    """A skill's ``with``: any mapping, checked against the skill's JSON Schema."""

    model_config = ConfigDict(extra="allow")


def schema_problems(schema: dict) -> list[str]:
    """Why ``schema`` is not a valid JSON Schema ([] when it is)."""
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [f"{'/'.join(map(str, exc.path)) or 'schema'}: {exc.message}"]
    return []


def config_problems(spec: SkillSpec, base: Action, settings) -> list[str]:
    """Why a skill's configuration does not fit its action's parameters ([] when it does)."""
    problems = []
    for _path, expr in expressions_in(spec.config):
        if not expr.strip().startswith("inputs"):
            problems.append(f"config may refer only to ${{inputs.*}}, not ${{{expr.strip()}}}")
    for loc, message in base.check(spec.config, settings):
        problems.append(f"config.{'.'.join(map(str, loc))}: {message}")
    return problems


class SkillAction(Action):
    """Runs a skill: validates ``with``, fills the configuration, runs the base action."""

    Params = _SkillParams

    def __init__(self, spec: SkillSpec, base: Action):
        self.spec = spec
        self.base = base
        self.name = spec.name
        self.title = spec.title or spec.name
        self.description = spec.description
        self.category = spec.category or "Skills"
        self.concurrency = spec.concurrency
        self._validator = jsonschema.validators.validator_for(spec.input_schema)(spec.input_schema)

    @property
    def is_async(self) -> bool:
        return True

    def parse(self, raw: dict) -> dict:
        errors = sorted(self._validator.iter_errors(raw), key=lambda e: list(e.path))
        if errors:
            raise ActionError("; ".join(_describe(e) for e in errors), retryable=False)
        return raw

    def check(self, raw, settings):
        return [(tuple(e.path), e.message) for e in self._validator.iter_errors(raw) if not _runtime_only(raw, e)]

    def schema(self) -> dict:
        return self.spec.input_schema

    def describe(self) -> dict:
        data = super().describe()
        data.update(kind="skill", action=self.spec.action, output_schema=self.spec.output_schema)
        return data

    async def run(self, params: dict, ctx) -> Any:
        if not self.concurrency:
            return await self._run(params, ctx)
        async with throttle.turn(ctx, [(("skill", self.name), self.concurrency)]):
            return await self._run(params, ctx)

    async def _run(self, params: dict, ctx) -> Any:
        try:
            raw = render(self.spec.config, {"inputs": params}, Evaluator())
        except ExpressionError as exc:
            raise ActionError(f"skill {self.name}: {exc}", retryable=False) from None
        try:
            base_params = self.base.parse(raw)
        except ValidationError as exc:
            raise ActionError(f"skill {self.name}: configuration does not fit {self.base.name}: "
                              f"{exc.errors()[0]['msg']}", retryable=False) from None
        if self.base.is_async:
            result = await self.base.run(base_params, ctx)
        else:
            import asyncio
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(ctx.services.get("executor"), self.base.run, base_params, ctx)
        if self.spec.output_schema:
            problems = list(jsonschema.validators.validator_for(self.spec.output_schema)(
                self.spec.output_schema).iter_errors(result))
            if problems:
                raise ActionError(f"skill {self.name}: output does not match its schema: {_describe(problems[0])}")
        return result


def _describe(error) -> str:
    where = ".".join(map(str, error.path))
    return f"{where}: {error.message}" if where else error.message


def _runtime_only(raw, error) -> bool:
    """True when an error concerns a value that is a ``${...}`` (known only at run time)."""
    if error.validator in ("required", "additionalProperties"):
        return False
    return _under_expression(raw, tuple(error.path)) or has_expression(error.instance)
