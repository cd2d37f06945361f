"""The base every action derives from, and the context an action runs with."""

from __future__ import annotations

import difflib
import inspect
import typing
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ..expressions import has_expression
from ..settings import EngineSettings
from ..validate_messages import plain


class Params(BaseModel):
    """Base of every action's ``with`` model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class ActionContext:
    """What a running action may know and do besides its parameters.

    ``log(message, level)`` sends a log line to the run's events (safe from a thread);
    ``services`` holds what the host provides (the thread pool, the runner, connections).
    An action that waits its turn (a rate limiter, a global concurrency limit) reports the
    time with ``queued(seconds)``: it is not counted as the step's work.
    """

    __slots__ = ("run_id", "path", "attempt", "settings", "services", "_log", "waited", "deadline")

    def __init__(self, run_id: str, path: str, attempt: int, settings: EngineSettings,
                 log: Callable[[str, str, str], None] | None = None, services: dict | None = None):
        self.run_id = run_id
        self.path = path
        self.attempt = attempt
        self.settings = settings
        self.services = services if services is not None else {}
        self._log = log
        self.waited = 0.0
        self.deadline = None  # the step's asyncio.Timeout when it has a ``timeout``

    def queued(self, seconds: float) -> None:
        """Count ``seconds`` this attempt spent waiting its turn (not work)."""
        self.waited += max(seconds, 0.0)

    def log(self, message: str, level: str = "info") -> None:
        if self._log is not None:
            self._log(self.path, message, level)

    def __repr__(self) -> str:
        return f"ActionContext(run_id={self.run_id!r}, path={self.path!r}, attempt={self.attempt})"


class Action:
    """One kind of step. Subclasses set ``name`` and ``Params`` and define ``run``.

    ``run(self, params, ctx)`` may be ``async`` (awaited on the loop) or plain (run in the
    engine's thread pool, so it never blocks the loop).
    """

    name: ClassVar[str]
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    category: ClassVar[str] = "Built-in"
    Params: ClassVar[type[BaseModel]] = Params
    #: the JSON Schema of the output, where its shape is fixed (the editor offers its fields)
    output_schema: ClassVar[dict | None] = None
    #: ``run`` is async and neither reads nor binds to the task it runs in (no ``asyncio.timeout``,
    #: no cancel scope, no ``current_task``): a parallel branch of it may start in its block's
    #: task and get a Task of its own only once it waits (blocks/common.py, ``start``)
    eager: ClassVar[bool] = False

    @property
    def is_async(self) -> bool:
        """True when ``run`` is a coroutine function (cached: it sits on the hot path)."""
        cached = self.__dict__.get("_is_async")
        if cached is None:
            cached = self.__dict__["_is_async"] = inspect.iscoroutinefunction(self.run)
        return cached

    def run(self, params: Any, ctx: ActionContext) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(self, raw: dict) -> Any:
        """Validate resolved parameters into the ``Params`` model."""
        return self.Params.model_validate(raw)

    def check(self, raw: dict, settings: EngineSettings) -> list[tuple[tuple, str]]:
        """Static problems with ``with`` as written: ``[(location, message)]``.

        Values that hold a ``${...}`` are only known at run time and are not type-checked.
        """
        try:
            self.Params.model_validate(raw)
        except ValidationError as exc:
            return [
                (tuple(err["loc"]), _message(err, self.Params))
                for err in exc.errors()
                if not _under_expression(raw, err["loc"])
            ]
        return []

    def schema(self) -> dict:
        """JSON Schema of ``with`` (what the editor renders as a form)."""
        return self.Params.model_json_schema()

    def describe(self) -> dict:
        """Name, labels and schema for palettes and API listings."""
        return {
            "name": self.name,
            "title": self.title or self.name,
            "description": self.description,
            "category": self.category,
            "kind": "action",
            "schema": self.schema(),
            "output_schema": self.output_schema,
        }


def connection_problem(raw, settings, extra_key: str, noun: str = "connection", default: str | None = None):
    """``(location, message)`` when ``with.connection`` names none of ``settings.extra[extra_key]``."""
    name = raw.get("connection", default) if isinstance(raw, dict) else None
    known = settings.extra.get(extra_key, {})
    if isinstance(name, str) and "${" not in name and name not in known:
        listed = ", ".join(sorted(known)) or "none configured"
        return ("connection",), f"unknown {noun} '{name}' (connections: {listed})"
    return None


def _message(err: dict, model: type[BaseModel] | None = None) -> str:
    if err["type"] == "extra_forbidden":
        name = str(err["loc"][-1])
        shown = name if len(name) <= 60 else name[:50] + "…"
        return f"unknown parameter '{shown}'{_suggestion(name, _model_at(model, err['loc'][:-1]))}"
    if err["type"] == "missing":
        return f"missing parameter '{err['loc'][-1]}'"
    return plain(err)


def _model_at(model, loc) -> type[BaseModel] | None:
    """The model whose fields hold ``loc``'s last key (the Params, or a model nested in them)."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) and model is not None else None
        if field is None:
            return None
        inner = field.annotation
        options = [inner, *typing.get_args(inner)]  # ``Model | None``
        model = next((o for o in options if isinstance(o, type) and issubclass(o, BaseModel)), None)
    return model


def _suggestion(name: str, model) -> str:
    """`` (did you mean 'url'?)`` against the model's parameters, else the short list of them."""
    if model is None:
        return ""
    known = sorted(field.alias or key for key, field in model.model_fields.items())
    close = difflib.get_close_matches(name[:100], known, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    if 0 < len(known) <= 12:
        return f" (parameters: {', '.join(known)})"
    return ""


def _under_expression(raw, loc) -> bool:
    value = raw
    for part in loc:
        if isinstance(value, str) and has_expression(value):
            return True
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(value, str) and has_expression(value)
