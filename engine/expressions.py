"""Safe `${...}` expressions: parsing, reference extraction and evaluation.

Evaluation uses simpleeval's AST walker with the surface narrowed further: a dotted name
is always a mapping key (``${x.items}`` reads the key ``items``, never a method), calls are
limited to the functions of engine/expr_functions.py by name, and nothing starting with
``_`` is reachable. No ``eval``; user text can never run code. ``default(x, fallback)`` is
run here: reading a missing key or index inside ``x`` gives the fallback instead of an error.

Cost is bounded too: expr_parse caps the text's length and nesting, and expr_ops sizes every
value before making it, against the caps and work budget of expr_limits (no check ever walks
a whole existing value). ``secrets`` may only be read by name.
"""

from __future__ import annotations

import ast
import heapq
import operator as op
import re
from collections.abc import Mapping

import simpleeval

from .errors import ExpressionError
from .expr_args import short as _short, type_name as _type_name
from .expr_functions import FUNCTION_NAMES, call
from .expr_limits import Budget
from .expr_ops import binop, compare_cost, json_text, text as value_text
from .expr_parse import CONSTANTS, compile_expression, dotted_reference, expression_references
from .scope import Secrets


FUNCTIONS = FUNCTION_NAMES
#: names a step id or item name may not take (function names may: calls never read steps);
#: ``error`` and ``run`` are what on_failure and finally blocks read
RESERVED = frozenset(CONSTANTS) | {"inputs", "secrets", "loop", "error", "run"}

_SECRETS_WHOLE = ("secrets cannot be listed or used as a whole; read one secret by name: "
                  "secrets.NAME or secrets['NAME']")


class _Missing(ExpressionError):
    """Reading a key or an index that is not there (or reading through null): what default() catches."""


class _Evaluator(simpleeval.EvalWithCompoundTypes):
    """simpleeval narrowed to mapping keys, list indexes and allowlisted calls, every value sized.

    simpleeval's own checks are bypassed (``_eval`` does not walk each result; its operators
    are replaced by :func:`.expr_ops.binop`): see engine/expr_limits.py for how cost is bounded.
    """

    def __init__(self):
        super().__init__(functions={}, names={})
        for node_type in (ast.JoinedStr, ast.FormattedValue, ast.Set, ast.ListComp,
                          ast.GeneratorExp, ast.DictComp):
            self.nodes.pop(node_type, None)
        self.budget = Budget()

    def _eval(self, node):
        result = self.nodes[type(node)](node)
        if isinstance(result, Secrets):
            raise ExpressionError(_SECRETS_WHOLE, self.expr)
        return result

    def _eval_base(self, node):
        """The value before ``.key`` or ``[key]``: the one place ``secrets`` itself may appear."""
        return self.nodes[type(node)](node)

    @staticmethod
    def _eval_constant(node):
        return node.value

    def _eval_binop(self, node):
        return binop(self.budget, type(node.op), self._eval(node.left), self._eval(node.right))

    def _eval_unaryop(self, node):
        value = self._eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if isinstance(value, (str, list, tuple, dict)):
            raise TypeError(f"bad operand type for unary operator: {_type_name(value)}")
        return {ast.USub: op.neg, ast.UAdd: op.pos, ast.Invert: op.invert}[type(node.op)](value)

    def _eval_compare(self, node):
        right = self._eval(node.left)
        for operation, comp in zip(node.ops, node.comparators):
            left, right = right, self._eval(comp)
            compare_cost(self.budget, type(operation), left, right)
            if not self.operators[type(operation)](left, right):
                return False
        return True

    def _eval_list(self, node):
        values = [self._eval(item) for item in node.elts]
        items, size = self.budget.collection(values, len(values))
        return self.budget.made(values, items, size)

    def _eval_tuple(self, node):
        values = tuple(self._eval(item) for item in node.elts)
        items, size = self.budget.collection(values, len(values))
        return self.budget.made(values, items, size)

    def _eval_dict(self, node):
        result, parts = {}, []
        for key, value in zip(node.keys, node.values):
            if key is None:  # {**other}
                other = self._eval(value)
                if not isinstance(other, Mapping):
                    raise ExpressionError(f"cannot spread {_type_name(other)} into a mapping", self.expr)
                self.budget.top_level(len(result) + len(other), "mapping")
                parts.append(other)
                result.update(other)
            else:
                k, v = self._eval(key), self._eval(value)
                parts += (k, v)
                result[k] = v
        items, size = self.budget.collection(parts, len(result))
        return self.budget.made(result, items, size)

    def _eval_attribute(self, node):
        if node.attr.startswith("_"):
            raise ExpressionError(f"'{node.attr}' is not allowed", self.expr)
        base = self._eval_base(node.value)
        return _key(base, node.attr, self.expr)

    def _eval_subscript(self, node):
        base = self._eval_base(node.value)
        key = self._eval(node.slice)
        if isinstance(key, str) and key.startswith("_"):
            raise ExpressionError(f"'{key}' is not allowed", self.expr)
        if isinstance(base, Mapping):
            return _key(base, key, self.expr)
        if isinstance(base, (list, tuple, str)) and isinstance(key, (int, slice)) and not isinstance(key, bool):
            if isinstance(key, slice):
                length = len(range(*key.indices(len(base))))
                if isinstance(base, str):
                    self.budget.check_string(length)
                else:
                    self.budget.top_level(length)
                return base[key]
            try:
                return base[key]
            except IndexError:
                raise _Missing(f"index {key} is out of range (length {len(base)})", self.expr) from None
        error = _Missing if base is None else ExpressionError
        raise error(f"cannot index {_type_name(base)} with {_short(key)}", self.expr)

    def _eval_call(self, node):
        # compile_expression checked the name and the arity; this guards the evaluator on its own
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTION_NAMES:
            raise ExpressionError("only the expression functions may be called, by name", self.expr)
        if node.func.id == "default":
            return self._default(*node.args)
        args = [self._eval(a) for a in node.args]
        try:
            return call(self.budget, node.func.id, args)
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"{node.func.id}(): {_short(str(exc))}", self.expr) from None

    def _default(self, value_node, fallback_node):
        """``default(x, fallback)``: x, unless it is null or reading it meets a missing key or index.

        The fallback is evaluated only when it is used.
        """
        try:
            value = self._eval(value_node)
        except _Missing:
            value = None
        return self._eval(fallback_node) if value is None else value

    def _eval_name(self, node):
        if node.id.startswith("_"):
            raise ExpressionError(f"unknown name '{node.id}'", self.expr)
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        try:
            return self.names[node.id]
        except KeyError:
            raise ExpressionError(f"unknown name '{node.id}'", self.expr) from None


def _key(base, key, expr):
    if isinstance(base, Mapping):
        try:
            return base[key]
        except KeyError:
            known = ", ".join(heapq.nsmallest(10, map(str, base))) or "none"
            raise _Missing(f"no key '{_short(key)}' (keys: {known})", expr) from None
        except TypeError:
            raise ExpressionError(f"cannot use {_short(key)} as a key", expr) from None
    error = _Missing if base is None else ExpressionError
    raise error(f"cannot read '{_short(key)}' of {_type_name(base)}", expr)


def references(source: str) -> list[tuple[str, tuple]]:
    """Each reference in an expression as ``(root name, (key, ...))`` — the static keys after it."""
    plain = dotted_reference(source)  # a plain name needs no parse (validation asks for every one)
    return plain if plain is not None else list(expression_references(source))


class Evaluator:
    """Evaluates compiled expressions against a scope (any mapping of names)."""

    def __init__(self):
        self._impl = _Evaluator()

    def evaluate(self, source: str, scope: Mapping, budget: Budget | None = None):
        """Evaluate ``source`` (no ``${ }``) with ``scope`` for its names.

        ``budget`` is shared by the expressions of one rendered value (one step's ``with``);
        by default each evaluation has its own.
        """
        tree = compile_expression(source)
        impl = self._impl
        impl.names = scope
        impl.expr = source
        impl.budget = budget if budget is not None else Budget()
        try:
            return impl._eval(tree)
        except ExpressionError as exc:
            if not exc.expression:
                raise ExpressionError(exc.message, source) from None
            raise
        except simpleeval.InvalidExpression as exc:
            raise ExpressionError(str(exc).split(" in expression")[0], source) from None
        except ZeroDivisionError:
            raise ExpressionError("division by zero", source) from None
        except OverflowError:
            raise ExpressionError("too large: a number out of range", source) from None
        except (RecursionError, MemoryError):
            raise ExpressionError("too large: the values are nested too deeply or too big", source) from None
        except (TypeError, ValueError, LookupError, ArithmeticError) as exc:
            raise ExpressionError(_short(str(exc)), source) from None
        finally:
            impl.names = {}
            impl.budget = None


# ---- templates: strings holding ${...} -----------------------------------------------------

def split_template(text: str) -> list[tuple[bool, str]]:
    """Split ``"a ${x} b"`` into ``[(False, 'a '), (True, 'x'), (False, ' b')]``; ``$${`` escapes."""
    parts: list[tuple[bool, str]] = []
    buf = []
    i = 0
    while True:
        j = text.find("${", i)
        if j < 0:
            if i < len(text):
                buf.append(text[i:])
            break
        if j > i and text[j - 1] == "$":  # "$${" (read left to right, a "$" before "${" always escapes it)
            buf.append(text[i:j - 1])
            buf.append("${")
            i = j + 2
            continue
        if j > i:
            buf.append(text[i:j])
        end = _closing_brace(text, j + 2)
        if end < 0:
            raise ExpressionError("'${' without a closing '}'", text[j + 2:])
        if buf:
            parts.append((False, "".join(buf)))
            buf = []
        parts.append((True, text[j + 2:end]))
        i = end + 1
    if buf:
        joined = "".join(buf)
        if joined:
            parts.append((False, joined))
    return parts


#: text up to the first bracket, brace or quote: an expression without any closes at the first "}"
_PLAIN = re.compile(r"[^\[\](){}'\"]*")


def _closing_brace(text: str, start: int) -> int:
    end = _PLAIN.match(text, start).end()
    if end < len(text) and text[end] == "}":
        return end
    depth = 0
    quote = None
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            if ch == "}" and depth == 0:
                return i
            depth -= 1
        i += 1
    return -1


def has_expression(value) -> bool:
    """True when ``value`` (any JSON data) holds a ``${`` anywhere."""
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str):  # the common case, without a call
                if "${" in v:
                    return True
            elif has_expression(v):
                return True
            if isinstance(k, str) and "${" in k:
                return True
        return False
    if isinstance(value, list):
        for v in value:
            if has_expression(v):
                return True
    return False


def expressions_in(value, path=()):
    """Yield ``(path, expression source)`` for every ``${...}`` inside JSON data, in document
    order. A stack, not nested generators: only text with ``${`` and containers are visited
    (and given a path)."""
    stack = [(value, path)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            for is_expr, text in split_template(value):
                if is_expr:
                    yield path, text
        elif isinstance(value, dict):
            for k, v in reversed(value.items()):
                if isinstance(v, str) and "${" in v or isinstance(v, (dict, list)):
                    stack.append((v, path + (k,)))
        elif isinstance(value, list):
            for i in range(len(value) - 1, -1, -1):
                v = value[i]
                if isinstance(v, str) and "${" in v or isinstance(v, (dict, list)):
                    stack.append((v, path + (i,)))


def to_text(value, budget: Budget | None = None) -> str:
    """How a value is interpolated into a longer string (bounded like every value made)."""
    budget = budget if budget is not None else Budget()
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, dict, list)):
        return json_text(budget, value)
    return value_text(budget, value)


def render(value, scope: Mapping, evaluator: Evaluator):
    """Resolve every ``${...}`` in JSON data against ``scope``.

    The expressions of one value share one work budget, so a ``with`` of many expressions
    is bounded as a whole; text built from a template is capped like any string.
    """
    return _render(value, scope, evaluator, Budget())


def _render(value, scope: Mapping, evaluator: Evaluator, budget: Budget):
    if isinstance(value, str):
        if "${" not in value:
            return value
        parts = split_template(value)
        if len(parts) == 1 and parts[0][0]:
            return evaluator.evaluate(parts[0][1], scope, budget)
        pieces, length = [], 0
        for is_expr, part in parts:
            if is_expr:
                try:
                    part = to_text(evaluator.evaluate(part, scope, budget), budget)
                except ExpressionError as exc:
                    raise ExpressionError(exc.message, exc.expression or part) from None
            length += len(part)
            budget.check_string(length)
            pieces.append(part)
        return "".join(pieces)
    if isinstance(value, dict):
        return {k: _render(v, scope, evaluator, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, scope, evaluator, budget) for v in value]
    return value


def condition_source(value) -> str | None:
    """The expression of an ``if:`` (with or without ``${ }``); None for a literal bool."""
    if isinstance(value, bool):
        return None
    text = str(value).strip()
    if text.startswith("${") and text.endswith("}"):
        parts = split_template(text)
        if len(parts) == 1 and parts[0][0]:
            return parts[0][1]
    return text
