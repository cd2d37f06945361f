"""JSON functions of expressions: ``to_json(x)`` writes JSON text, ``from_json(s)`` reads it.

Both are bounded at the door: ``to_json`` sizes the value (a walk that stops at the caps)
before writing it; ``from_json`` reads at most MAX_SIZE characters, then checks in one walk,
stopping at the first excess, that the data nests at most MAX_JSON_DEPTH levels and holds at
most MAX_ITEMS elements, MAX_SIZE characters and MAX_INT_BITS-bit integers. Neither NaN nor
infinity is JSON: both are refused either way.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

from .errors import ExpressionError
from .expr_args import TEXT, type_name, want
from .expr_limits import _CHARS_PER_WORK, MAX_INT_BITS, MAX_ITEMS, MAX_JSON_DEPTH, MAX_SIZE, Budget, too_large


def to_json(budget: Budget, value):
    """``value`` as compact JSON text (``{"a":[1,2]}``), non-ASCII characters kept as they are."""
    if isinstance(value, str):
        budget.check_string(len(value))
    elif isinstance(value, (list, tuple, Mapping)):
        got = budget.measure(value)
        if got is None:
            raise too_large(f"to_json() writes values of at most {MAX_ITEMS:,} elements and "
                            f"{MAX_SIZE:,} characters")
        budget.charge(got[0] + got[1] // _CHARS_PER_WORK)
    elif isinstance(value, int) and not isinstance(value, bool):
        budget.check_int(value)
    elif not isinstance(value, (bool, float, type(None))):
        raise ExpressionError(f"to_json() cannot write {type_name(value)}")
    try:
        result = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise ExpressionError("to_json() cannot write NaN or infinity: JSON has neither") from None
    except TypeError:
        raise ExpressionError("to_json() writes mappings whose keys are text, numbers, booleans "
                              "or null") from None
    except RecursionError:
        raise ExpressionError("to_json(): the value is nested too deeply") from None
    budget.check_string(len(result))
    return result


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


class _NotJson(Exception):
    pass


def _constant(name: str):
    raise _NotJson(f"{name} is not JSON")


def from_json(budget: Budget, value):
    """The data that the JSON text ``value`` holds."""
    want("from_json", value, TEXT)
    budget.check_string(len(value))
    if _surely_too_many(value):
        raise _too_many()
    try:
        data = json.loads(value, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise ExpressionError(f"from_json(): not valid JSON: {exc.msg} "
                              f"(line {exc.lineno}, column {exc.colno})") from None
    except _NotJson as exc:
        raise ExpressionError(f"from_json(): {exc}") from None
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # Python's own cap on the digits of an integer
        raise too_large(f"from_json(): an integer of more than {MAX_INT_BITS:,} bits") from None
    items, size = _sized(budget, data)
    return budget.made(data, items, size)


def _surely_too_many(value: str) -> bool:
    """Does JSON text certainly hold more than MAX_ITEMS elements? Read before the parser makes them.

    Outside strings, each element after a container's first follows a comma, and each
    container but the outermost is an element: more commas, or more brackets, than MAX_ITEMS
    mean too many elements (``[[],[],...]``, or many chains ``[[[...]]]`` without commas).
    """
    def counts(text: str) -> tuple[int, int]:
        return text.count(","), text.count("[") + text.count("{") - 1

    if max(counts(value)) <= MAX_ITEMS:
        return False
    return max(counts(_STRING.sub("", value))) > MAX_ITEMS


def _too_deep() -> ExpressionError:
    return too_large(f"from_json() reads data nested at most {MAX_JSON_DEPTH} levels deep")


def _sized(budget: Budget, data) -> tuple[int, int]:
    """``(items, size)`` of freshly read JSON data; refuses, at the first excess, what passes a cap."""
    items = size = 0
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        kind = type(node)
        if kind is str:
            size += len(node)
        elif kind is list or kind is dict:
            if depth > MAX_JSON_DEPTH:
                raise _too_deep()
            items, size = items + len(node), size + len(node)
            if items > MAX_ITEMS or size > MAX_SIZE:
                break
            budget.charge(len(node))
            if kind is dict:
                size += sum(map(len, node))
                node = node.values()
            stack.extend((child, depth + 1) for child in node)
        elif kind is int:
            if node.bit_length() > MAX_INT_BITS:
                raise too_large(f"from_json(): an integer of {node.bit_length():,} bits "
                                f"(at most {MAX_INT_BITS:,})")
            size += 1
        elif kind is float and not math.isfinite(node):
            raise ExpressionError("from_json(): a number out of range (JSON has no infinity)")
        else:
            size += 1
        if size > MAX_SIZE:
            break
    if items > MAX_ITEMS or size > MAX_SIZE:
        raise _too_many()
    return items, size


def _too_many() -> ExpressionError:
    return too_large(f"from_json() reads data of at most {MAX_ITEMS:,} elements and {MAX_SIZE:,} characters")
