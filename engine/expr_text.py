"""Text functions of expressions: lower, upper, trim, replace, split, join, startswith, endswith.

Each sizes its result from its arguments before making it (``replace`` counts the matches
first, ``split`` the parts, ``join`` the pieces), against the caps of expr_limits, and charges
the text it scans to the evaluation's work budget; none runs longer than one pass over text
of at most MAX_SIZE characters.
"""

from __future__ import annotations

from .errors import ExpressionError
from .expr_args import LIST, TEXT, type_name, want
from .expr_limits import _CHARS_PER_WORK, MAX_ITEMS, MAX_SIZE, Budget, too_large
from .expr_ops import text


def _scanned(budget: Budget, *texts: str) -> None:
    """Charge a pass of C code over ``texts`` (cheap: many characters a unit of work)."""
    budget.charge(sum(len(t) for t in texts) // _CHARS_PER_WORK)


def lower(budget: Budget, value):
    """``value`` in lower case."""
    want("lower", value, TEXT)
    budget.check_string(len(value))
    result = value.lower()
    budget.check_string(len(result))  # a few characters grow when their case changes
    return result


def upper(budget: Budget, value):
    """``value`` in upper case (``ß`` becomes ``SS``)."""
    want("upper", value, TEXT)
    budget.check_string(len(value))
    result = value.upper()
    budget.check_string(len(result))
    return result


def trim(budget: Budget, value):
    """``value`` without white space at either end."""
    want("trim", value, TEXT)
    _scanned(budget, value)
    result = value.strip()
    budget.check_string(len(result))
    return result


def replace(budget: Budget, value, old, new):
    """Every ``old`` in ``value`` replaced by ``new``; the length is known before the copy."""
    want("replace", value, TEXT, "text")
    want("replace", old, TEXT, "old")
    want("replace", new, TEXT, "new")
    _scanned(budget, value)
    count = len(value) + 1 if old == "" else value.count(old)
    budget.check_string(len(value) + count * (len(new) - len(old)))
    return value.replace(old, new)


def split(budget: Budget, value, sep):
    """The parts of ``value`` between each ``sep``; the parts are counted before the split."""
    want("split", value, TEXT, "text")
    want("split", sep, TEXT, "sep")
    if not sep:
        raise ExpressionError("split() takes a separator that is not empty")
    _scanned(budget, value)
    count = value.count(sep)
    parts = count + 1
    size = parts + len(value) - count * len(sep)
    if parts > MAX_ITEMS or size > MAX_SIZE:
        raise too_large(f"split() would make a list of {parts:,} texts, {size - parts:,} characters in all "
                        f"(at most {MAX_ITEMS:,} elements and {MAX_SIZE:,} characters)")
    budget.charge(parts)
    return budget.made(value.split(sep), parts, size)


def join(budget: Budget, values, sep):
    """The items of ``values`` (text or numbers) with ``sep`` between them."""
    want("join", values, LIST, "list")
    want("join", sep, TEXT, "sep")
    budget.top_level(len(values))
    pieces, length = [], max(len(values) - 1, 0) * len(sep)
    if length > MAX_SIZE:
        raise too_large(f"join() would make a string of {length:,} characters (at most {MAX_SIZE:,})")
    for i, item in enumerate(values):
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            item = text(budget, item)
        elif not isinstance(item, str):
            raise ExpressionError(f"join() takes a list of text and numbers; item {i} is {type_name(item)}")
        length += len(item)
        if length > MAX_SIZE:
            raise too_large(f"join() would make a string of more than {MAX_SIZE:,} characters")
        pieces.append(item)
    budget.check_string(length)
    return sep.join(pieces)


def startswith(budget: Budget, value, prefix):
    """True when ``value`` begins with ``prefix``."""
    want("startswith", value, TEXT, "text")
    want("startswith", prefix, TEXT, "prefix")
    return value.startswith(prefix)


def endswith(budget: Budget, value, suffix):
    """True when ``value`` ends with ``suffix``."""
    want("endswith", value, TEXT, "text")
    want("endswith", suffix, TEXT, "suffix")
    return value.endswith(suffix)
