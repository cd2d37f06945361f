"""Checking the arguments of expression functions: one clear message naming the function.

A function given the wrong kind of value says so in the user's words, never with Python's
(``replace() takes text for 'old', got a list``, not ``replace() argument 2 must be str``).
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ExpressionError

#: what a function may be given, and how a message names it
TEXT = ((str,), "text")
LIST = ((list, tuple), "a list")
MAPPING = ((Mapping,), "a mapping")
INTEGER = ((int,), "an integer")


def short(value) -> str:
    """A value named in an error message: never more than ~60 characters of it."""
    if isinstance(value, str):
        return value if len(value) <= 60 else value[:57] + "..."
    if isinstance(value, (int, float, bool, type(None), slice)) and not (
            isinstance(value, int) and value.bit_length() > 128):
        return repr(value)
    return type_name(value)


def type_name(value) -> str:
    """How a message names the kind of ``value``: ``a list``, ``null``, ``a mapping``..."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    return {list: "a list", str: "text", bool: "a boolean", tuple: "a list", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def want(function: str, value, kind: tuple, param: str | None = None):
    """``value`` itself when it is of ``kind`` (one of TEXT, LIST...); else an ExpressionError."""
    types, what = kind
    if isinstance(value, types) and not (isinstance(value, bool) and bool not in types):
        return value
    where = f" for '{param}'" if param else ""
    raise ExpressionError(f"{function}() takes {what}{where}, got {type_name(value)}")
