"""``python``: call an allowlisted ``module:function`` (sync in a thread, or async)."""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import json
from typing import Any

from pydantic import Field

from ..errors import ActionError
from ..expressions import has_expression
from .base import Action, Params


class PythonParams(Params):
    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                          description="Dotted path module:function, allowed by the server's settings")
    args: list[Any] = Field(default_factory=list, description="Positional arguments")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments")


def is_allowed(function: str, patterns) -> bool:
    """True when ``module:function`` matches one of the allowlist's patterns."""
    dotted = function.replace(":", ".")
    return any(fnmatch.fnmatchcase(function, p) or fnmatch.fnmatchcase(dotted, p) for p in patterns)


class Python(Action):
    name = "python"
    title = "Python function"
    description = "Call an allowed Python function with arguments; returns its result."
    category = "Code"
    Params = PythonParams

    def check(self, raw, settings):
        problems = super().check(raw, settings)
        function = raw.get("function") if isinstance(raw, dict) else None
        if isinstance(function, str) and not has_expression(function) and not problems:
            if not is_allowed(function, settings.python_allowed):
                problems.append((("function",), f"'{function}' is not allowed by the python allowlist"))
        return problems

    async def run(self, params: PythonParams, ctx) -> Any:
        if not is_allowed(params.function, ctx.settings.python_allowed):
            raise ActionError(f"'{params.function}' is not allowed by the python allowlist", retryable=False)
        func = _load(params.function)
        if inspect.iscoroutinefunction(func):
            result = await func(*params.args, **params.kwargs)
        else:
            import asyncio
            loop = asyncio.get_running_loop()
            executor = ctx.services.get("executor")
            result = await loop.run_in_executor(executor, lambda: func(*params.args, **params.kwargs))
        try:
            json.dumps(result)
        except (TypeError, ValueError):
            raise ActionError(f"{params.function} returned a {type(result).__name__}, not JSON data",
                              retryable=False) from None
        return result


def _load(function: str):
    module_name, _, attr = function.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ActionError(f"cannot import {module_name}: {exc}", retryable=False) from None
    func = getattr(module, attr, None)
    if not callable(func):
        raise ActionError(f"{function} is not a function", retryable=False)
    return func
