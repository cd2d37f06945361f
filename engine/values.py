"""JSON-safe data at the step boundary: what an action returns becomes data every store takes.

An action's output goes into expressions, events, the database (SQLite or PostgreSQL JSON)
and websocket frames; one NaN, one 5,000-digit integer or one ``bytes`` value would break
each of them somewhere else, later. So outputs are normalised once, where they enter:

- converted where a clear convention exists: tuples and sets → lists (sets sorted when they
  can be), ``datetime``/``date``/``time`` → ISO 8601 text, ``Decimal`` → a number, ``UUID``
  and ``Enum`` → their value, ``bytes`` holding UTF-8 → text, integer/float/bool/null mapping
  keys → text (as ``json.dumps`` does), lone surrogates and NUL characters in text → U+FFFD;
- refused otherwise, naming the value's place (``output.rows[3].total``): NaN and ±Infinity
  (JSON has neither), integers beyond 64 bits (databases and browsers cannot hold them),
  bytes that are not text, other objects, nesting deeper than ``MAX_DEPTH``.

``normalize`` returns the value itself when nothing needed converting (no copy on the common
path). ``lenient`` is for data that must be stored whatever it holds (resolved step inputs,
error reports): what ``normalize`` would refuse becomes ``null`` or text instead.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from decimal import Decimal
from enum import Enum

from .errors import UnstorableValue

MAX_DEPTH = 100
MAX_INT = 2**63 - 1
MIN_INT = -(2**63)
DEFAULT_LIMIT = 32 * 1024 * 1024  # bytes of JSON: one step's output at most, by default
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused(Exception):
    """Raised inside the walk; each container on the way up adds its key to ``keys``."""

    def __init__(self, problem: str, whole: bool = False):
        self.problem = problem
        self.keys: list = []
        self.whole = whole  # about the whole value (its size), not the place where it was noticed


def normalize(value, place: str = "output", limit: int = DEFAULT_LIMIT):
    """``value`` as JSON-safe data; raise UnstorableValue naming the place otherwise."""
    return measured(value, place, limit)[0]


def measured(value, place: str = "output", limit: int = DEFAULT_LIMIT) -> tuple[object, int]:
    """``(normalize(value), about how many bytes its JSON takes)``, in one walk.

    The walk stops as soon as the size passes ``limit``: a value that holds the same big list
    many times over is as big as its JSON, and is refused without being walked in full.
    """
    kind = type(value)
    if kind is str:
        if len(value) > limit:
            raise UnstorableValue(place, _too_large(limit))
        return _text(value), len(value) + 2
    if kind is bool or value is None or (kind is int and MIN_INT <= value <= MAX_INT):
        return value, 8
    size = [0, limit]
    try:
        return _walk(value, 0, size), size[0]
    except _Refused as exc:
        where = place if exc.whole else place + "".join(_step(k) for k in reversed(exc.keys))
        if len(where) > 200:
            where = where[:100] + "…" + where[-100:]
        raise UnstorableValue(where, exc.problem) from None


def _step(key) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    return f".{key}" if key.isidentifier() else f"[{key!r}]"


def _walk(value, depth: int, size: list):
    if depth > MAX_DEPTH:
        raise _Refused(f"is nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if kind is str:
        size[0] += len(value) + 3
        if size[0] > size[1]:
            raise _Refused(_too_large(size[1]), whole=True)
        return _text(value)
    size[0] += 8  # numbers, constants, and the punctuation of containers: an estimate
    if size[0] > size[1]:
        raise _Refused(_too_large(size[1]), whole=True)
    if kind is bool or value is None:
        return value
    if kind is int:
        if MIN_INT <= value <= MAX_INT:
            return value
        raise _Refused(f"is an integer of {_digits(value)} digits, beyond 64 bits (return it as text)")
    if kind is float:
        if value - value == 0.0:  # finite: inf - inf and nan - nan are nan
            return value
        raise _Refused(f"is {value!r}, which JSON cannot hold")
    if kind is dict:
        out = None
        index = 0
        for key, item in value.items():
            try:
                new_key = _text(key) if type(key) is str else _key(key)
                size[0] += len(new_key)
                new = _walk(item, depth + 1, size)
            except _Refused as exc:
                exc.keys.append(key if type(key) is str else repr(key))
                raise
            if out is None and (new is not item or new_key is not key):
                out = dict(list(value.items())[:index])
            if out is not None:
                out[new_key] = new
            index += 1
        return value if out is None else out
    if kind is list:
        out = None
        for index, item in enumerate(value):
            try:
                new = _walk(item, depth + 1, size)
            except _Refused as exc:
                exc.keys.append(index)
                raise
            if out is None and new is not item:
                out = value[:index]
            if out is not None:
                out.append(new)
        return value if out is None else out
    return _convert(value, depth, size)


def _convert(value, depth: int, size: list):
    """A value of another type: converted by a clear convention, or refused."""
    if isinstance(value, bool):  # subclasses of the plain types
        return bool(value)
    if isinstance(value, int) and not isinstance(value, Enum):
        return _walk(int(value), depth, size)
    if isinstance(value, float):
        return _walk(float(value), depth, size)
    if isinstance(value, str) and not isinstance(value, Enum):
        return _text(str(value))
    if isinstance(value, (tuple, list)):
        return _walk(list(value), depth, size)
    if isinstance(value, (set, frozenset)):
        try:
            items = sorted(value)
        except TypeError:
            items = list(value)
        return _walk(items, depth, size)
    if isinstance(value, dict):
        return _walk(dict(value), depth, size)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise _Refused(f"is Decimal('{value}'), which JSON cannot hold")
        if value == value.to_integral_value() and abs(value) <= MAX_INT:
            return int(value)
        return _walk(float(value), depth, size)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return _walk(value.value, depth, size)
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return _text(bytes(value).decode("utf-8"))
        except UnicodeDecodeError:
            raise _Refused("is bytes that are not UTF-8 text (return base64 text instead)") from None
    raise _Refused(f"is of type {type(value).__name__}, not JSON data")


def _key(key) -> str:
    """A mapping key as text, by ``json.dumps``'s convention."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        _walk(int(key), 0, [0, DEFAULT_LIMIT])
        return str(key)
    if isinstance(key, float):
        if not math.isfinite(key):
            raise _Refused(f"has the key {key!r}, which JSON cannot hold")
        return repr(key)
    if isinstance(key, str):
        return _text(str(key))
    raise _Refused(f"has a key of type {type(key).__name__} (keys must be text)")


def _text(text: str) -> str:
    if "\x00" in text:  # the NUL character: PostgreSQL's text and JSON refuse it
        text = text.replace("\x00", "\ufffd")
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no encoding can store them
        return _SURROGATE.sub("\ufffd", text)
    return text


def _too_large(limit: int) -> str:
    return f"is larger than {limit / 1024 / 1024:g} MiB as JSON (the WORKFLOW_MAX_STEP_OUTPUT_BYTES setting)"


def _digits(value: int) -> str:
    # str(value) is refused past 4,300 digits: the bit length tells the size in O(1)
    return f"about {int(abs(value).bit_length() * 0.30103) + 1:,}"


def lenient(value, depth: int = 0):
    """JSON-safe data whatever ``value`` holds: what ``normalize`` refuses becomes null or text."""
    try:
        return normalize(value)
    except UnstorableValue as exc:
        if exc.problem.startswith("is larger than"):
            return f"<{type(value).__name__} too large to show>"
    except RecursionError:
        return None
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, float):
        return None  # NaN and ±Infinity: JSON.stringify's convention
    if isinstance(value, int) and not isinstance(value, bool):
        return f"<an integer of {_digits(value)} digits>"
    if isinstance(value, dict):
        return {(_text(k) if isinstance(k, str) else _safe_key(k)): lenient(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [lenient(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return f"<{type(value).__name__}>"


def _safe_key(key) -> str:
    try:
        return _key(key)
    except _Refused:
        return f"<{type(key).__name__}>"
