"""Data functions of expressions: contains, keys, values, unique, flatten, zip, range.

Each new list is counted before it is made (``flatten`` adds up the lengths first, ``zip``
takes the shortest length, ``range`` refuses more than MAX_RANGE numbers) and then sized
through the budget like a list literal, so no result passes MAX_ITEMS or MAX_SIZE and no
walk goes past the work cap.
"""

from __future__ import annotations

import ast
import itertools
import json

from .errors import ExpressionError
from .expr_args import INTEGER, LIST, MAPPING, type_name, want
from .expr_limits import _CHARS_PER_WORK, MAX_ITEMS, MAX_RANGE, MAX_SIZE, Budget, too_large
from .expr_ops import compare_cost

_SCALARS = (str, int, float, type(None))


def contains(budget: Budget, container, item):
    """``item`` in ``container``: a substring of text, an element of a list, a key of a mapping."""
    if isinstance(container, str):
        if not isinstance(item, str):
            raise ExpressionError(f"contains() looks for text in text, got {type_name(item)}")
    elif not isinstance(container, (list, tuple, *MAPPING[0])):
        raise ExpressionError(f"contains() takes text, a list or a mapping, got {type_name(container)}")
    compare_cost(budget, ast.In, item, container)
    try:
        return item in container
    except TypeError:  # a list or mapping cannot be a mapping's key: it is not there
        return False


def keys(budget: Budget, mapping):
    """The keys of ``mapping``, in order, as a list."""
    want("keys", mapping, MAPPING)
    items, size = budget.collection(mapping.keys(), len(mapping))
    return budget.made(list(mapping.keys()), items, size)


def values(budget: Budget, mapping):
    """The values of ``mapping``, in the order of its keys, as a list."""
    want("values", mapping, MAPPING)
    items, size = budget.collection(mapping.values(), len(mapping))
    return budget.made(list(mapping.values()), items, size)


def unique(budget: Budget, items):
    """``items`` without repeats, each kept where it first appears (compared as JSON data)."""
    want("unique", items, LIST)
    budget.top_level(len(items))
    seen, result, keys_of = set(), [], {}
    for item in items:
        key = _identity(budget, item, keys_of)
        if key not in seen:
            seen.add(key)
            result.append(item)
    total_items, size = budget.collection(result, len(result))
    return budget.made(result, total_items, size)


def _identity(budget: Budget, item, keys_of: dict):
    """What makes two items the same: their value (``true`` is not ``1``), or their JSON text."""
    if isinstance(item, bool):
        return "bool", item
    if isinstance(item, (int, float)):
        return "number", item
    if isinstance(item, _SCALARS):
        return type(item).__name__, item
    key = keys_of.get(id(item))  # the same object many times over is written once
    if key is None:
        got = budget.measure(item)
        if got is None:
            raise too_large(f"unique() compares lists and mappings of at most {MAX_ITEMS:,} elements "
                            f"and {MAX_SIZE:,} characters")
        budget.charge(got[0] + got[1] // _CHARS_PER_WORK)  # writing it as JSON
        try:
            key = "json", json.dumps(item, sort_keys=True, default=str)
        except TypeError:
            raise ExpressionError("unique() compares mappings whose keys are all text") from None
        except (RecursionError, ValueError):
            raise ExpressionError("unique() cannot compare items nested this deeply") from None
        keys_of[id(item)] = key
    return key


def flatten(budget: Budget, items):
    """One level of nesting removed: the elements of each list in ``items``; other items as they are."""
    want("flatten", items, LIST)
    budget.top_level(len(items))
    length = 0
    for part in items:
        length += len(part) if isinstance(part, (list, tuple)) else 1
        if length > MAX_ITEMS:
            raise too_large(f"flatten() would make a list of more than {MAX_ITEMS:,} elements")
    parts = (part if isinstance(part, (list, tuple)) else (part,) for part in items)
    total_items, size = budget.collection(itertools.chain.from_iterable(parts), length)
    result = [x for part in items for x in (part if isinstance(part, (list, tuple)) else (part,))]
    return budget.made(result, total_items, size)


def zip_lists(budget: Budget, *lists):
    """Lists paired element by element: ``[[a0, b0], [a1, b1], ...]``, as long as the shortest."""
    for i, value in enumerate(lists):
        want("zip", value, LIST, f"argument {i + 1}")
    rows = min(len(value) for value in lists)
    slots = rows * (len(lists) + 1)
    if slots > MAX_ITEMS:
        raise too_large(f"zip() would make {rows:,} rows of {len(lists)} (at most {MAX_ITEMS:,} elements in all)")
    used = itertools.chain.from_iterable(itertools.islice(value, rows) for value in lists)
    total_items, size = budget.collection(used, slots)
    return budget.made([list(row) for row in zip(*lists)], total_items, size)


def range_list(budget: Budget, *bounds):
    """``range(n)``: 0 to n - 1; ``range(start, stop)`` and ``range(start, stop, step)`` too."""
    names = ("n",) if len(bounds) == 1 else ("start", "stop", "step")
    for name, value in zip(names, bounds):
        want("range", value, INTEGER, name)
    try:
        numbers = range(*bounds)
        length = len(numbers)
    except ValueError:
        raise ExpressionError("range() takes a step that is not 0") from None
    except OverflowError:
        length = MAX_RANGE + 1
    if length > MAX_RANGE:
        raise too_large(f"range() of more than {MAX_RANGE:,} numbers (at most {MAX_RANGE:,})")
    result = list(numbers)
    total_items, size = budget.collection(result, length)
    return budget.made(result, total_items, size)
