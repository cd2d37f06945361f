"""Operators and functions of expressions, each sizing its result before making it.

simpleeval's own guards (``safe_mult``, ``safe_add``, its check of every result) either miss
cases (``'%099999999d' % 1``, ``[[0] * 100000] * 5000``) or walk whole values; these replace
them with O(1) arithmetic on the operands' sizes kept by a :class:`~.expr_limits.Budget`.
"""

from __future__ import annotations

import ast
import json
import math
import operator as op
from collections.abc import Mapping

from .errors import ExpressionError
from .expr_args import INTEGER, LIST, TEXT, short, want
from .expr_limits import _CHARS_PER_WORK, _ELEMENTS_PER_WORK, MAX_INT_BITS, MAX_ITEMS, MAX_SIZE, Budget, too_large

_SEQUENCES = (str, list, tuple)


# ---- operators -------------------------------------------------------------------------------

def binop(budget: Budget, kind: type, a, b):
    """``a <op> b`` for an ``ast.operator`` type, refused before it makes anything too large."""
    if kind is ast.Add:
        return _add(budget, a, b)
    if kind is ast.Mult:
        return _mult(budget, a, b)
    if kind is ast.Mod and isinstance(a, str):
        return _format(budget, a, b)
    if kind is ast.Pow:
        return _power(budget, a, b)
    if kind is ast.LShift:
        if _is_int(a) and _is_int(b) and b > 0 and a and a.bit_length() + b > MAX_INT_BITS:
            raise too_large(f"an integer of about {a.bit_length() + b:,} bits (at most {MAX_INT_BITS:,})")
        return budget.check_int(a << b)
    if kind is ast.BitOr and isinstance(a, Mapping) and isinstance(b, Mapping):
        items, size = budget.collection((a, b))
        return budget.made(a | b, items, size)
    func = _PLAIN.get(kind)
    if func is None:
        raise ExpressionError(f"the operator {kind.__name__} is not allowed")
    _charge_ints(budget, a, b)
    return budget.check_int(func(a, b))


_PLAIN = {ast.Sub: op.sub, ast.Div: op.truediv, ast.FloorDiv: op.floordiv, ast.Mod: op.mod,
          ast.RShift: op.rshift, ast.BitOr: op.or_, ast.BitXor: op.xor, ast.BitAnd: op.and_}


def _is_int(value) -> bool:
    return isinstance(value, int)


def _charge_ints(budget: Budget, *values) -> None:
    for v in values:
        if isinstance(v, int) and v.bit_length() > 64:
            budget.charge(v.bit_length() // 64)


def _add(budget: Budget, a, b):
    if isinstance(a, str) and isinstance(b, str):
        budget.check_string(len(a) + len(b))
        return a + b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and type(a) is type(b):
        items, size = budget.collection((a, b))
        return budget.made(a + b, items, size)
    _charge_ints(budget, a, b)
    return budget.check_int(a + b)


def _mult(budget: Budget, a, b):
    if _is_int(a) and isinstance(b, _SEQUENCES):
        a, b = b, a
    if isinstance(a, _SEQUENCES) and _is_int(b):
        times = max(int(b), 0)
        if isinstance(a, str):
            budget.check_string(len(a) * times)
            return a * times
        per = budget.measure(a, MAX_ITEMS // max(times, 1), MAX_SIZE // max(times, 1))
        if per is None or per[0] * times > MAX_ITEMS or per[1] * times > MAX_SIZE:
            raise too_large(f"repeating a list of {len(a):,} elements {times:,} times would make more than "
                            f"{MAX_ITEMS:,} elements or {MAX_SIZE:,} characters in all")
        budget.charge(len(a) * times)
        return budget.made(a * times, per[0] * times, per[1] * times)
    if _is_int(a) and _is_int(b) and a and b and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
        raise too_large(f"an integer of about {a.bit_length() + b.bit_length():,} bits (at most {MAX_INT_BITS:,})")
    _charge_ints(budget, a, b)
    return budget.check_int(a * b)


def _power(budget: Budget, a, b):
    if _is_int(a) and _is_int(b) and b > 0 and abs(a) > 1:
        bits = (abs(a).bit_length() - 1) * b
        if bits > MAX_INT_BITS:
            raise too_large(f"{a} ** {b} would have about {bits:,} bits (at most {MAX_INT_BITS:,})")
    if isinstance(a, int) and isinstance(b, float) or isinstance(a, float) and isinstance(b, (int, float)):
        result = a ** b  # a float: bounded (or OverflowError)
        if isinstance(result, complex):
            raise ExpressionError(f"{a} ** {b} is not a real number")
        return result
    _charge_ints(budget, a, b)
    return budget.check_int(a ** b)


def compare_cost(budget: Budget, kind: type, a, b) -> None:
    """Charge comparing or searching values (O(n) of values that exist already, in C).

    Only what the comparison will really visit: ``x == []`` of lists of different lengths
    stops at once; ``a < b`` stops at the shorter; ``x in y`` may visit all of ``y``.
    """
    if kind in (ast.In, ast.NotIn):
        visited = len(b) if isinstance(b, (str, list, tuple, Mapping)) else 0
        if isinstance(b, str):
            visited = (len(b) + (len(a) if isinstance(a, str) else 0)) // (_CHARS_PER_WORK // _ELEMENTS_PER_WORK)
    elif kind in (ast.Is, ast.IsNot) or not (isinstance(a, (str, list, tuple, Mapping))
                                             and isinstance(b, (str, list, tuple, Mapping))):
        return
    elif kind in (ast.Eq, ast.NotEq) and len(a) != len(b):
        return
    else:
        visited = min(len(a), len(b))
        if isinstance(a, str):
            visited //= _CHARS_PER_WORK // _ELEMENTS_PER_WORK
    budget.charge(visited // _ELEMENTS_PER_WORK)


# ---- %-formatting ------------------------------------------------------------------------------

_NUMERIC = "diouxXeEfFgGc"


def _format(budget: Budget, fmt: str, args):
    """``fmt % args``: each width and precision is read and the result's length bounded first."""
    values = args if isinstance(args, tuple) else (args,)
    mapping = args if isinstance(args, Mapping) else None
    bound, index, i, n = len(fmt), 0, 0, len(fmt)
    budget.charge(n // _CHARS_PER_WORK)
    while True:
        i = fmt.find("%", i)
        if i < 0 or i + 1 >= n:
            break
        i += 1
        key = None
        if fmt[i] == "(":
            depth, start = 1, i + 1
            while i + 1 < n and depth:
                i += 1
                depth += {"(": 1, ")": -1}.get(fmt[i], 0)
            key, i = fmt[start:i], i + 1
        while i < n and fmt[i] in "-+ #0":
            i += 1
        width, i = _digits(fmt, i)
        precision = 0
        if i < n and fmt[i] == ".":
            precision, i = _digits(fmt, i + 1)
        while i < n and fmt[i] in "hlL":
            i += 1
        if i >= n:
            break
        conv = fmt[i]
        i += 1
        if conv == "%":
            continue
        if key is not None:
            value = mapping.get(key) if mapping is not None else None
        else:
            value = values[index] if index < len(values) else None
            index += 1
        bound += width + precision + _converted_length(budget, conv, value)
        if bound > MAX_SIZE:
            raise too_large(f"formatting would make a string of more than {MAX_SIZE:,} characters")
    text = fmt % args
    budget.check_string(len(text))
    return text


def _digits(fmt: str, i: int):
    if i < len(fmt) and fmt[i] == "*":
        raise ExpressionError("'*' widths are not supported in % formatting; write the width")
    start = i
    while i < len(fmt) and fmt[i].isdigit():
        i += 1
    if i - start > len(str(MAX_SIZE)):
        raise too_large(f"a format width or precision of {i - start} digits")
    value = int(fmt[start:i]) if i > start else 0
    if value > MAX_SIZE:
        raise too_large(f"a format width or precision of {value:,} (at most {MAX_SIZE:,})")
    return value, i


def _converted_length(budget: Budget, conv: str, value) -> int:
    if conv in "sra":
        return len(text(budget, value))
    if conv in _NUMERIC:
        if isinstance(value, int):
            return value.bit_length() // 3 + 4
        return 330  # the longest float written out with %f
    return 0  # an unknown conversion: % itself refuses it


# ---- text ------------------------------------------------------------------------------------

def text(budget: Budget, value) -> str:
    """``str(value)``, refused before it is made when it would pass MAX_SIZE characters."""
    if isinstance(value, str):
        return value
    return _bounded(budget, value, str)


def json_text(budget: Budget, value) -> str:
    """``value`` as JSON text (how lists and mappings are interpolated), bounded like ``text``."""
    return _bounded(budget, value, lambda v: json.dumps(v, default=str))


def _bounded(budget: Budget, value, convert) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        budget.check_int(value)
    elif isinstance(value, (list, tuple, Mapping)):
        # every element is written with at most ~24 characters of its own beyond its size
        got = budget.measure(value, MAX_ITEMS, MAX_SIZE)
        if got is None:
            raise too_large(f"the value would be more than {MAX_SIZE:,} characters as text")
        budget.charge(got[0])
    elif not isinstance(value, (bool, float, type(None))):
        raise ExpressionError(f"cannot turn a {type(value).__name__} into text")
    try:
        result = convert(value)
    except RecursionError:
        raise ExpressionError("the value is nested too deeply to turn into text") from None
    budget.check_string(len(result))
    return result


# ---- functions -----------------------------------------------------------------------------------

_NUMBER = ((int, float), "a number")
_SIZED = ((str, list, tuple, Mapping, type(None)), "text, a list or a mapping")
_READABLE = ((str, int, float, bool), "text or a number")


def _length(budget, value):
    want("len", value, _SIZED)
    return 0 if value is None else len(value)


def _str(budget, value=""):
    return text(budget, value)


def _int(budget, value=0, *base):
    want("int", value, _READABLE if not base else TEXT)
    if base and (not isinstance(base[0], int) or isinstance(base[0], bool) or not (base[0] == 0 or 2 <= base[0] <= 36)):
        raise ExpressionError("int() takes a base from 2 to 36 (or 0)")
    _charge_ints(budget, value)
    if isinstance(value, str):
        budget.charge(len(value) // _CHARS_PER_WORK)
    try:
        return budget.check_int(int(value, *base))
    except ValueError as exc:
        if "limit" in str(exc):  # Python's own cap on the digits of an integer read from text
            raise too_large(f"an integer of more than {MAX_INT_BITS:,} bits") from None
        raise ExpressionError(f"int() cannot read '{short(value)}' as an integer") from None


def _float(budget, value=0.0):
    want("float", value, _READABLE)
    if isinstance(value, str):
        budget.charge(len(value) // _CHARS_PER_WORK)
    try:
        return float(value)
    except ValueError:
        raise ExpressionError(f"float() cannot read '{short(value)}' as a number") from None


def _abs(budget, value):
    return abs(want("abs", value, _NUMBER))


def _round(budget, value, ndigits=None):
    want("round", value, _NUMBER, "number")
    if ndigits is None:
        return budget.check_int(round(value))
    want("round", ndigits, INTEGER, "digits")
    if isinstance(value, int) and ndigits < -MAX_INT_BITS:
        return 0  # round(n, -huge) is 0 for any n within the cap (and would compute 10 ** huge)
    return round(value, ndigits)


def _iterable(budget, values):
    if isinstance(values, (str, list, tuple, Mapping)):
        budget.charge(len(values) // _ELEMENTS_PER_WORK)
    return values


def _compared(name: str, func, *args):
    """min, max, sorted: Python's comparison errors said in the user's words."""
    if len(args) == 1:
        want(name, args[0], ((str, list, tuple, Mapping), "a list (or several arguments)"))
        if not args[0] and name != "sorted":
            raise ExpressionError(f"{name}() of an empty list")
    try:
        return func(*args)
    except TypeError:
        raise ExpressionError(f"{name}() compares numbers with numbers and text with text") from None


def _min(budget, *args):
    return _compared("min", min, *(_iterable(budget, a) for a in args))


def _max(budget, *args):
    return _compared("max", max, *(_iterable(budget, a) for a in args))


def _sum(budget, values, start=0):
    want("sum", values, LIST, "list")
    if not isinstance(start, (int, float)):
        raise ExpressionError("sum() adds numbers only")
    try:
        result = sum(_iterable(budget, values), start)
    except TypeError:
        raise ExpressionError("sum() adds numbers only") from None
    if not isinstance(result, (int, float)):
        raise ExpressionError("sum() adds numbers only")
    return budget.check_int(result)


def _sorted(budget, values):
    if isinstance(values, (str, list, tuple, Mapping)):
        budget.top_level(len(values))
    return _compared("sorted", sorted, values)


def _floor_ceil(name, func):
    def wrapper(budget, value):
        return budget.check_int(func(want(name, value, _NUMBER)))
    return wrapper


#: the first functions of expressions (engine/expr_functions.py holds the whole table)
BASIC_FUNCTIONS = {
    "len": _length, "str": _str, "int": _int, "float": _float, "bool": lambda budget, v=False: bool(v),
    "abs": _abs, "round": _round, "min": _min, "max": _max, "sum": _sum,
    "sorted": _sorted, "floor": _floor_ceil("floor", math.floor), "ceil": _floor_ceil("ceil", math.ceil),
}
