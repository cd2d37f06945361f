"""Bounded cost for expressions: caps on every value an expression makes, checked BEFORE it is made.

An expression is hostile input evaluated on the server's event loop, so every operation that
can make a value bigger than its operands (``*`` repetition, ``+`` concatenation, literals,
slices, ``%`` formatting, ``**``, ``<<``, ``str()``, ``sorted()``) computes the size of its
result from the sizes of its operands first and refuses with a "too large" ExpressionError.

Sizes are cheap because of how they are kept:

- ``len()`` of the top level is O(1) and is all that is needed for strings, for the element
  count of a new list and for slices;
- a value the expression made itself has its exact nested size recorded when it is made
  (``[[0] * 1000] * 1000`` is 1000 × the recorded size of ``[0] * 1000``: no walk at all);
- a value the expression did not make (a step output) is measured only when it is copied into
  a new value, by a walk that stops as soon as the result would pass a cap, and every node it
  visits is charged to the evaluation's work budget. So no check ever walks a whole value:
  ``${len(big_output)}`` and ``${big_output[0]}`` cost O(1) whatever the output's size.

The size of a value counts, nested values included: one per element of a list or tuple, one
per key and one per value of a mapping, one per character of a string and one per number.
The caps are module constants (documented in docs/format.md, "Expressions have bounded cost").
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ExpressionError

#: characters in the text of one expression (inside ``${ }``)
MAX_EXPRESSION_LENGTH = 4_000
#: how deeply parts of one expression may nest (brackets, operators, calls)
MAX_NESTING = 100
#: the size of any value an expression makes: characters of a string, or elements, keys,
#: characters and numbers of a list, tuple or mapping counted through every nested value
MAX_SIZE = 1_000_000
#: elements of a list, tuple or mapping an expression makes, nested elements included
MAX_ITEMS = 100_000
#: bits of an integer an expression makes (about 1 200 decimal digits)
MAX_INT_BITS = 4_096
#: work one evaluation (or one step's ``with``) may do: values visited, copied or compared
MAX_WORK = 300_000
#: numbers ``range()`` may make
MAX_RANGE = 10_000
#: how deeply the data ``from_json()`` reads may nest (as deeply as a step's output may)
MAX_JSON_DEPTH = 100
#: characters of the text ``format_date()`` reads, and of its format
MAX_DATE_TEXT = 64
MAX_DATE_FORMAT = 200
#: characters per unit of work when strings are copied (copying text is cheap), and elements
#: per unit when C code runs over an existing value (sum, max, ==, in): a unit is about one
#: element visited by a Python loop
_CHARS_PER_WORK = 32
_ELEMENTS_PER_WORK = 10

_SCALARS = (type(None), bool, int, float)


def too_large(what: str) -> ExpressionError:
    return ExpressionError(f"too large: {what}")


class Budget:
    """Sizes of the values made so far, and the work done, for one evaluation or render."""

    __slots__ = ("sizes", "keep", "work")

    def __init__(self):
        self.sizes: dict[int, tuple[int, int]] = {}  # id -> (items, size) of values measured or made
        self.keep: list = []  # holds those values so their ids stay theirs
        self.work = 0

    # -- accounting --------------------------------------------------------------------------
    def charge(self, units: int) -> None:
        self.work += units
        if self.work > MAX_WORK:
            raise too_large(f"the expression handles too much data (more than {MAX_WORK:,} units of work; "
                            f"values are capped at {MAX_ITEMS:,} elements and {MAX_SIZE:,} characters)")

    def made(self, value, items: int, size: int):
        """Record the size of a value just made (after its caps were checked)."""
        if isinstance(value, (list, tuple, dict)):
            self.sizes[id(value)] = (items, size)
            self.keep.append(value)
        return value

    def measure(self, value, max_items: int = MAX_ITEMS, max_size: int = MAX_SIZE):
        """``(items, size)`` of ``value``, or None as soon as it passes ``max_items``/``max_size``.

        Costs O(1) for strings, numbers and values made or measured before; otherwise a walk
        that stops at the caps, charged to the work budget.
        """
        kind = type(value)
        if kind is str:
            return (0, len(value)) if len(value) <= max_size else None
        if not isinstance(value, (list, tuple, Mapping)):
            return 0, _scalar_size(value)
        known = self.sizes.get(id(value))
        if known is not None:
            return known if known[0] <= max_items and known[1] <= max_size else None
        items = size = 0
        stack = [value]
        while stack:
            node = stack.pop()
            known = self.sizes.get(id(node)) if node is not value else None
            if known is not None:
                items, size = items + known[0], size + known[1]
            elif type(node) is str:
                size += len(node)
            elif isinstance(node, (list, tuple)):
                items, size = items + len(node), size + len(node)
                if items > max_items or size > max_size:
                    return None
                self.charge(len(node))
                stack.extend(node)
            elif isinstance(node, Mapping):
                items, size = items + len(node), size + len(node)
                if items > max_items or size > max_size:
                    return None
                self.charge(2 * len(node))
                stack.extend(node.keys())
                stack.extend(node.values())
            else:
                size += _scalar_size(node)
            if items > max_items or size > max_size:
                return None
        self.made(value, items, size)
        return items, size

    def check_string(self, length: int) -> None:
        if length > MAX_SIZE:
            raise too_large(f"a string of {length:,} characters (at most {MAX_SIZE:,})")
        self.charge(length // _CHARS_PER_WORK)

    def check_int(self, value):
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise too_large(f"an integer of {value.bit_length():,} bits (at most {MAX_INT_BITS:,})")
        return value

    def collection(self, parts, extra_items: int = 0):
        """The ``(items, size)`` of a new list/tuple/mapping holding ``parts``; refuses past the caps.

        ``extra_items`` are the slots of the new value itself (its length).
        """
        items, size = extra_items, extra_items
        if items > MAX_ITEMS:
            raise _too_many(items)
        self.charge(extra_items)
        for part in parts:
            got = self.measure(part, MAX_ITEMS - items, MAX_SIZE - size)
            if got is None:
                raise too_large(f"the value would hold more than {MAX_ITEMS:,} elements "
                                f"or {MAX_SIZE:,} characters in all")
            items, size = items + got[0], size + got[1]
        return items, size

    def top_level(self, length: int, what: str = "list") -> None:
        """A new sequence of ``length`` elements (copied from an existing one: sorted, slices)."""
        if length > MAX_ITEMS:
            raise too_large(f"a {what} of {length:,} elements (at most {MAX_ITEMS:,})")
        self.charge(length)


def _too_many(items: int) -> ExpressionError:
    return too_large(f"a list or mapping of {items:,} elements (at most {MAX_ITEMS:,})")


def _scalar_size(value) -> int:
    if type(value) is int and (value > 1 << 63 or value < -(1 << 63)):
        return value.bit_length() // 3 + 1  # about its decimal digits, as text
    return 1
