"""``python``: call an allowlisted ``module:function``; plain functions run in a worker process.

The function name is hostile input. ``resolve`` is the one gate, used when a workflow is
validated, before a call, and again inside the worker: the name must be ``module.path:name``
in ASCII with no part starting with ``_``; a pattern of the allowlist must match it; the
module must be the file its dotted path names (no ``sys.modules`` entry or widened
``__path__`` can stand in for it); and the name must hold a plain Python function defined in
that module, or in another module the allowlist matches (never a module, class, builtin,
bound method, ``functools.partial`` or callable object).

Allowlist patterns (``settings.python_allowed``) are ``fnmatch`` globs: ``MODULE:FUNCTION``
globs each part (``tests.helpers:tracked``, ``pkg.mod:get_*``); a pattern without ``:`` globs
the module path or the whole dotted ``module.function``, so ``examples.functions`` and
``examples.functions.*`` allow every public function of that module, and ``engine.functions.*``
those of every module under that package. A re-exported function is allowed only when its
own ``home:name`` is allowed too (a module importing ``shutil.rmtree`` does not allow it).

Plain functions run in the shared pool of worker processes (``engine/pool.py``), so a timeout
or cancel kills them and CPU-bound branches use every core. ``async def`` functions are
awaited on the event loop (they wait on I/O; CPU work belongs in a plain function).
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import inspect
import json
import os
import re
import sys
import types
from typing import Any

from pydantic import Field

from .. import pool
from ..errors import ActionError
from ..expressions import has_expression
from .base import Action, Params

_PART = r"[A-Za-z_][A-Za-z0-9_]*"
NAME = re.compile(rf"{_PART}(?:\.{_PART})*:{_PART}\Z", re.ASCII)
MAX_NAME = 200


class PythonParams(Params):
    function: str = Field(description="module.path:function, allowed by the server's settings"
                                      " (checked by ``resolve``, which says why a name is refused)")
    args: list[Any] = Field(default_factory=list, description="Positional arguments")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments")


class Refused(ActionError):
    """The function name is not one a workflow may call (never retried)."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


# -- the allowlist ---------------------------------------------------------------------------
def matches(module: str, name: str, patterns) -> bool:
    """True when one pattern allows ``module:name``: ``MODULE:FUNCTION`` globs each part;
    a pattern without ``:`` globs the module path or the whole dotted ``module.name``."""
    for pattern in patterns:
        pattern = pattern.strip()
        if ":" in pattern:
            module_pattern, _, name_pattern = pattern.partition(":")
            if fnmatch.fnmatchcase(module, module_pattern) and fnmatch.fnmatchcase(name, name_pattern):
                return True
        elif fnmatch.fnmatchcase(module, pattern) or fnmatch.fnmatchcase(f"{module}.{name}", pattern):
            return True
    return False


def is_allowed(function: str, patterns) -> bool:
    """True when ``module:function`` is well formed, public and matched by one of ``patterns``."""
    try:
        _check_name(function, patterns)
    except Refused:
        return False
    return True


def _show(value) -> str:
    text = repr(value if isinstance(value, str) else type(value).__name__)
    return text if len(text) <= 80 else text[:77] + "...'"


def _check_name(function, patterns) -> tuple[str, str]:
    """The name's grammar, the ``_`` rule and the patterns; returns (module, name)."""
    if not isinstance(function, str) or len(function) > MAX_NAME or not NAME.match(function):
        raise Refused(f"{_show(function)} is not a 'module.path:function' name (ASCII letters, digits and '_',"
                      " no spaces, no relative or attribute paths)")
    module, name = function.split(":")
    if any(part.startswith("_") for part in (*module.split("."), name)):
        raise Refused(f"'{function}' is refused: module and function names starting with '_' are never allowed")
    if not matches(module, name, patterns):
        raise Refused(f"'{function}' is not allowed by the python allowlist")
    return module, name


def resolve(function, patterns) -> types.FunctionType:
    """The plain function ``function`` names, or Refused saying why not (see the module's doc)."""
    module_name, name = _check_name(function, patterns)
    module = _import(module_name)
    target = vars(module).get(name)  # never getattr: no module __getattr__, no descriptors
    if target is None:
        raise Refused(f"'{function}': {module_name} has no function '{name}'")
    if type(target) is not types.FunctionType:
        raise Refused(f"'{function}' is refused: it is {_kind(target)}, not a plain function")
    home, own_name = getattr(target, "__module__", None), getattr(target, "__name__", None)
    if home != module_name and not (isinstance(home, str) and isinstance(own_name, str)
                                    and matches(home, own_name, patterns)):
        raise Refused(f"'{function}' is refused: it is {home}:{own_name}, which the python allowlist does not allow")
    return target


def _kind(value) -> str:
    if isinstance(value, types.ModuleType):
        return "a module"
    if isinstance(value, type):
        return "a class"
    if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        return "a builtin"
    if isinstance(value, types.MethodType):
        return "a bound method"
    return f"a {type(value).__name__}"


_verified: dict[str, types.ModuleType] = {}


def _import(name: str) -> types.ModuleType:
    """Import ``name`` only if it and each package above it are the files their dotted names
    name under one ``sys.path`` folder, checked before and after import."""
    module = _verified.get(name)
    if module is not None and sys.modules.get(name) is module:
        return module
    parts = name.split(".")
    root = None
    for depth in range(1, len(parts) + 1):
        prefix = ".".join(parts[:depth])
        try:
            spec = importlib.util.find_spec(prefix)
        except (ImportError, ValueError) as exc:
            raise Refused(f"cannot import {prefix}: {exc}") from None
        if spec is None:
            raise Refused(f"cannot import {name}: there is no module {prefix}")
        origin = _real(spec.origin) if spec.has_location and spec.origin else None
        if spec.name != prefix or origin is None or not origin.endswith(".py"):
            raise Refused(f"cannot import {name}: {prefix} is not a Python source module")
        if root is None:
            root = _root(origin, spec.submodule_search_locations is not None, prefix)
        expected = _expected(root, parts[:depth], spec.submodule_search_locations is not None)
        if origin != expected:
            raise Refused(f"cannot import {name}: {prefix} is not {expected}")
        try:
            module = importlib.import_module(prefix)
        except Exception as exc:  # noqa: BLE001 - an allowed module that fails to import
            raise Refused(f"cannot import {prefix}: {type(exc).__name__}: {exc}") from None
        spec = getattr(module, "__spec__", None)
        if (getattr(module, "__name__", None) != prefix or spec is None or spec.name != prefix
                or _real(getattr(module, "__file__", None)) != expected):
            raise Refused(f"cannot import {name}: {prefix} is not the module its name says")
        paths = getattr(module, "__path__", None)
        if paths is not None and [_real(p) for p in paths] != [os.path.dirname(expected)]:
            raise Refused(f"cannot import {name}: the package {prefix} searches other folders")
    _verified[name] = module
    return module


def _real(path) -> str | None:
    return os.path.realpath(path) if isinstance(path, str) and path else None


def _root(origin: str, package: bool, top: str) -> str:
    root = os.path.dirname(os.path.dirname(origin)) if package else os.path.dirname(origin)
    entries = {_real(entry or os.getcwd()) for entry in sys.path if isinstance(entry, str)}
    if root not in entries:
        raise Refused(f"cannot import {top}: {root} is not on the import path")
    return root


def _expected(root: str, parts: list[str], package: bool) -> str:
    return os.path.join(root, *parts, "__init__.py") if package else os.path.join(root, *parts[:-1],
                                                                                 parts[-1] + ".py")


# -- the action ------------------------------------------------------------------------------
class Python(Action):
    name = "python"
    title = "Python function"
    description = "Call an allowed Python function with arguments; returns its result."
    category = "Code"
    Params = PythonParams

    def check(self, raw, settings):
        problems = super().check(raw, settings)
        function = raw.get("function") if isinstance(raw, dict) else None
        if isinstance(function, str) and not has_expression(function):
            try:
                func = resolve(function, settings.python_allowed)
            except Refused as exc:
                problems.append((("function",), str(exc)))
            else:
                if settings.warm_pool and not inspect.iscoroutinefunction(func):
                    pool.warm(settings.python_workers)  # a run is likely to follow: start the workers
        return problems

    async def run(self, params: PythonParams, ctx) -> Any:
        patterns = tuple(ctx.settings.python_allowed)
        func = resolve(params.function, patterns)
        if inspect.iscoroutinefunction(func):
            result = await func(*params.args, **params.kwargs)
            try:
                json.dumps(result)
            except (TypeError, ValueError):
                raise ActionError(f"{params.function} returned a {type(result).__name__}, not JSON data",
                                  retryable=False) from None
            return result
        try:
            status, value = await pool.call(ctx.settings.python_workers, call_in_worker, params.function,
                                            patterns, params.args, params.kwargs)
        except ActionError:
            raise
        except Exception as exc:  # noqa: BLE001 - the worker died or the pool broke
            code = getattr(exc, "exitcode", None)
            if code is not None:
                raise ActionError(f"the worker process running {params.function} died (exit code {code})") \
                    from None
            raise ActionError(f"the python worker pool failed: {type(exc).__name__}: {exc}") from None
        if status == "ok":
            return json.loads(value)
        raise ActionError(value, retryable=status == "error")


_STOPPERS = (SystemExit, KeyboardInterrupt, GeneratorExit)  # a function may raise these too


def call_in_worker(function: str, patterns: tuple, args: list, kwargs: dict) -> tuple[str, str]:
    """In a worker process: check ``function`` again (the allowlist travels with the call),
    call it, and answer ``("ok", JSON text)``, ``("error", message)`` or ``("refused", message)``:
    plain strings, so nothing the function made is unpickled in the server, and no traceback
    leaves the worker."""
    try:
        func = resolve(function, patterns)
    except Refused as exc:
        return "refused", str(exc)
    try:
        result = func(*args, **kwargs)
    except (Exception, *_STOPPERS) as exc:  # noqa: BLE001 - the function's failure is the step's
        return "error", _describe(exc)
    try:
        return "ok", json.dumps(result)
    except (TypeError, ValueError, RecursionError):
        return "refused", f"{function} returned a {type(result).__name__}, not JSON data"


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a hostile __str__
        text = ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
