"""The functions expressions may call: a table of name → implementation and arity.

A call is checked twice. When the workflow is validated (expr_parse), the name must be in the
table (``unknown function 'lowr' (did you mean 'lower'?)``), the number of arguments must fit
its arity and no argument may be named. When it runs, each implementation checks its
arguments' types (``replace() takes text for 'old', got a list``) and sizes its result
before making it, against the caps of expr_limits; see expr_text, expr_data, expr_json and
expr_dates.

``default(x, fallback)`` is in the table for those checks, but the evaluator runs it itself:
its first argument may read a missing key without failing (engine/expressions.py).
"""

from __future__ import annotations

import ast
import difflib
from typing import Callable, NamedTuple

from . import expr_data, expr_dates, expr_json, expr_text
from .expr_args import short
from .expr_limits import Budget
from .expr_ops import BASIC_FUNCTIONS


class Function(NamedTuple):
    """One callable name: ``impl(budget, *args)``, taking ``least`` to ``most`` arguments."""

    impl: Callable
    least: int
    most: int | None  # None: any number


def _default(budget: Budget, value, fallback):  # pragma: no cover - the evaluator runs default()
    return fallback if value is None else value


_ARITY = {"len": (1, 1), "str": (0, 1), "int": (0, 2), "float": (0, 1), "bool": (0, 1), "abs": (1, 1),
          "round": (1, 2), "min": (1, None), "max": (1, None), "sum": (1, 2), "sorted": (1, 1),
          "floor": (1, 1), "ceil": (1, 1)}

FUNCTIONS: dict[str, Function] = {
    **{name: Function(impl, *_ARITY[name]) for name, impl in BASIC_FUNCTIONS.items()},
    "default": Function(_default, 2, 2),
    "lower": Function(expr_text.lower, 1, 1),
    "upper": Function(expr_text.upper, 1, 1),
    "trim": Function(expr_text.trim, 1, 1),
    "replace": Function(expr_text.replace, 3, 3),
    "split": Function(expr_text.split, 2, 2),
    "join": Function(expr_text.join, 2, 2),
    "startswith": Function(expr_text.startswith, 2, 2),
    "endswith": Function(expr_text.endswith, 2, 2),
    "contains": Function(expr_data.contains, 2, 2),
    "to_json": Function(expr_json.to_json, 1, 1),
    "from_json": Function(expr_json.from_json, 1, 1),
    "keys": Function(expr_data.keys, 1, 1),
    "values": Function(expr_data.values, 1, 1),
    "unique": Function(expr_data.unique, 1, 1),
    "flatten": Function(expr_data.flatten, 1, 1),
    "zip": Function(expr_data.zip_lists, 2, None),
    "range": Function(expr_data.range_list, 1, 3),
    "now": Function(expr_dates.now, 0, 0),
    "format_date": Function(expr_dates.format_date, 2, 2),
}
#: the names expressions may call
FUNCTION_NAMES = frozenset(FUNCTIONS)


def call(budget: Budget, name: str, args: list):
    """Run a function of the table (its name and arity were checked when it was parsed)."""
    return FUNCTIONS[name].impl(budget, *args)


def call_problem(node: ast.Call) -> str | None:
    """What is wrong with a call, as an error message; None when the table allows it."""
    func = node.func
    if not isinstance(func, ast.Name):
        if isinstance(func, ast.Attribute) and func.attr in FUNCTIONS:
            return (f"'.{func.attr}()' is not allowed: values have no methods; "
                    f"call the function instead: {func.attr}(x, ...)")
        return "only functions may be called, by name, such as len(x) or lower(x)"
    name = func.id
    function = FUNCTIONS.get(name)
    if function is None:
        close = difflib.get_close_matches(name, FUNCTIONS, n=1, cutoff=0.6) if len(name) <= 40 else ()
        if close:
            return f"unknown function '{name}' (did you mean '{close[0]}'?)"
        return f"unknown function '{short(name)}' (the functions are: {', '.join(sorted(FUNCTIONS))})"
    if node.keywords:
        return f"{name}() takes no named arguments"
    count = len(node.args)
    if count < function.least or (function.most is not None and count > function.most):
        return f"{name}() takes {_arity(function)}, got {count}"
    return None


def _arity(function: Function) -> str:
    least, most = function.least, function.most
    if most is None:
        return f"at least {_arguments(least)}"
    if least == most:
        return _arguments(least)
    return f"{least} to {most} arguments"


def _arguments(count: int) -> str:
    return "no arguments" if count == 0 else "1 argument" if count == 1 else f"{count} arguments"
