"""Safe `${...}` expressions: parsing, reference extraction and evaluation.

Evaluation uses simpleeval's AST walker with the surface narrowed further: a dotted name
is always a mapping key (``${x.items}`` reads the key ``items``, never a method), calls are
limited to a short allowlist of functions by name, and nothing starting with ``_`` is
reachable. No ``eval``; user text can never run code.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping
from functools import lru_cache

import simpleeval

from .errors import ExpressionError


def _length(value):
    if value is None:
        return 0
    return len(value)


FUNCTIONS = {
    "len": _length,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sum": sum,
    "sorted": sorted,
    "floor": math.floor,
    "ceil": math.ceil,
}
CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}
#: names a step id or item name may not take (function names may: calls never read steps)
RESERVED = frozenset(CONSTANTS) | {"inputs", "secrets", "loop"}

_ALLOWED_NODES = (
    ast.Expression, ast.Expr, ast.Name, ast.Load, ast.Constant, ast.UnaryOp, ast.BinOp,
    ast.BoolOp, ast.Compare, ast.IfExp, ast.Call, ast.Subscript, ast.Attribute, ast.Slice,
    ast.List, ast.Tuple, ast.Dict, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)


class _Evaluator(simpleeval.EvalWithCompoundTypes):
    """simpleeval narrowed to mapping keys, list indexes and allowlisted calls."""

    def __init__(self):
        super().__init__(functions=dict(FUNCTIONS), names={})
        for node_type in (ast.JoinedStr, ast.FormattedValue, ast.Set, ast.ListComp,
                          ast.GeneratorExp, ast.DictComp):
            self.nodes.pop(node_type, None)

    def _eval_attribute(self, node):
        if node.attr.startswith("_"):
            raise ExpressionError(f"'{node.attr}' is not allowed", self.expr)
        base = self._eval(node.value)
        return _key(base, node.attr, self.expr)

    def _eval_subscript(self, node):
        base = self._eval(node.value)
        key = self._eval(node.slice)
        if isinstance(key, str) and key.startswith("_"):
            raise ExpressionError(f"'{key}' is not allowed", self.expr)
        if isinstance(base, Mapping):
            return _key(base, key, self.expr)
        if isinstance(base, (list, tuple, str)) and isinstance(key, (int, slice)) and not isinstance(key, bool):
            try:
                return base[key]
            except IndexError:
                raise ExpressionError(f"index {key} is out of range (length {len(base)})", self.expr) from None
        raise ExpressionError(f"cannot index a {_type_name(base)} with {key!r}", self.expr)

    def _eval_call(self, node):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExpressionError(f"only these functions may be called: {', '.join(sorted(FUNCTIONS))}", self.expr)
        func = FUNCTIONS[node.func.id]
        args = [self._eval(a) for a in node.args]
        kwargs = dict(self._eval(k) for k in node.keywords)
        try:
            return func(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            raise ExpressionError(f"{node.func.id}(): {exc}", self.expr) from None

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
            known = ", ".join(sorted(map(str, base))[:10]) or "none"
            raise ExpressionError(f"no key '{key}' (keys: {known})", expr) from None
        except TypeError:
            raise ExpressionError(f"cannot use {key!r} as a key", expr) from None
    raise ExpressionError(f"cannot read '{key}' of {_type_name(base)}", expr)


def _type_name(value) -> str:
    if value is None:
        return "null"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> ast.AST:
    """Parse one expression (the text inside ``${ }``); raise ExpressionError when malformed."""
    text = source.strip()
    if not text:
        raise ExpressionError("empty expression", source)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}", source) from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(f"{type(node).__name__} is not allowed in expressions", source)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"'{node.attr}' is not allowed", source)
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(f"unknown name '{node.id}'", source)
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            raise ExpressionError(
                f"only these functions may be called: {', '.join(sorted(FUNCTIONS))}", source
            )
    return tree.body


def references(source: str) -> list[tuple[str, tuple]]:
    """Each reference in an expression as ``(root name, (key, ...))`` — the static keys after it."""
    tree = compile_expression(source)
    refs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in CONSTANTS and not _is_call_target(tree, node):
            refs.append((node.id, ()))
    # attach the first static keys to each root: walk attribute chains
    chains = {}
    for node in ast.walk(tree):
        keys = []
        cur = node
        while True:
            if isinstance(cur, ast.Attribute):
                keys.append(cur.attr)
                cur = cur.value
            elif isinstance(cur, ast.Subscript) and isinstance(cur.slice, ast.Constant):
                keys.append(cur.slice.value)
                cur = cur.value
            else:
                break
        if isinstance(cur, ast.Name) and keys:
            prev = chains.get(id(cur), ())
            if len(keys) > len(prev):
                chains[id(cur)] = tuple(reversed(keys))
    names = {id(n): n for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return [(name, chains.get(nid, ())) for nid, n in names.items()
            for name in [n.id] if name not in CONSTANTS and not _is_call_target(tree, n)]


def _is_call_target(tree, name_node) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name_node for n in ast.walk(tree))


class Evaluator:
    """Evaluates compiled expressions against a scope (any mapping of names)."""

    def __init__(self):
        self._impl = _Evaluator()

    def evaluate(self, source: str, scope: Mapping):
        """Evaluate ``source`` (no ``${ }``) with ``scope`` for its names."""
        tree = compile_expression(source)
        impl = self._impl
        impl.names = scope
        impl.expr = source
        try:
            return impl._eval(tree)
        except ExpressionError:
            raise
        except simpleeval.InvalidExpression as exc:
            raise ExpressionError(str(exc).split(" in expression")[0], source) from None
        except ZeroDivisionError:
            raise ExpressionError("division by zero", source) from None
        except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
            raise ExpressionError(str(exc), source) from None
        finally:
            impl.names = {}


# ---- templates: strings holding ${...} -----------------------------------------------------

def split_template(text: str) -> list[tuple[bool, str]]:
    """Split ``"a ${x} b"`` into ``[(False, 'a '), (True, 'x'), (False, ' b')]``; ``$${`` escapes."""
    parts: list[tuple[bool, str]] = []
    buf = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("$${", i):
            buf.append("${")
            i += 3
            continue
        if text.startswith("${", i):
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise ExpressionError("'${' without a closing '}'", text[i + 2:])
            if buf:
                parts.append((False, "".join(buf)))
                buf = []
            parts.append((True, text[i + 2:end]))
            i = end + 1
            continue
        buf.append(text[i])
        i += 1
    if buf:
        parts.append((False, "".join(buf)))
    return parts


def _closing_brace(text: str, start: int) -> int:
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
        return any(has_expression(k) or has_expression(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_expression(v) for v in value)
    return False


def expressions_in(value, path=()):
    """Yield ``(path, expression source)`` for every ``${...}`` inside JSON data."""
    if isinstance(value, str):
        if "${" in value:
            for is_expr, text in split_template(value):
                if is_expr:
                    yield path, text
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from expressions_in(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from expressions_in(v, path + (i,))


def to_text(value) -> str:
    """How a value is interpolated into a longer string."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def render(value, scope: Mapping, evaluator: Evaluator):
    """Resolve every ``${...}`` in JSON data against ``scope``."""
    if isinstance(value, str):
        if "${" not in value:
            return value
        parts = split_template(value)
        if len(parts) == 1 and parts[0][0]:
            return evaluator.evaluate(parts[0][1], scope)
        return "".join(
            to_text(evaluator.evaluate(text, scope)) if is_expr else text for is_expr, text in parts
        )
    if isinstance(value, dict):
        return {k: render(v, scope, evaluator) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, scope, evaluator) for v in value]
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
