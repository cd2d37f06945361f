"""Parsing expressions: the allowed syntax, and caps on length and nesting checked at load.

Runs before any evaluation (the validator calls it for every ``${...}`` of a workflow), so a
hostile text ends as an ExpressionError naming the problem, never a RecursionError, a
MemoryError or a ValueError out of ``ast.parse`` (``'(' * 5000``, ``'-' * 10000 + '1'``,
5 000-digit integers).
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from keyword import iskeyword

from .errors import ExpressionError
from .expr_args import short
from .expr_functions import call_problem
from .expr_limits import MAX_EXPRESSION_LENGTH, MAX_INT_BITS, MAX_NESTING

CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}

_ALLOWED_NODES = (
    ast.Expression, ast.Expr, ast.Name, ast.Load, ast.Constant, ast.UnaryOp, ast.BinOp,
    ast.BoolOp, ast.Compare, ast.IfExp, ast.Call, ast.Subscript, ast.Attribute, ast.Slice,
    ast.List, ast.Tuple, ast.Dict, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)
_CONSTANT_TYPES = (str, int, float, bool, type(None))


#: the fields holding the sub-expressions of each allowed node, in ``ast.iter_child_nodes``
#: order (operators and contexts are left out: always allowed, they hold nothing)
_CHILDREN = {
    ast.Name: (), ast.Constant: (), ast.UnaryOp: ("operand",), ast.BinOp: ("left", "right"),
    ast.BoolOp: ("values",), ast.Compare: ("left", "comparators"), ast.IfExp: ("test", "body", "orelse"),
    ast.Call: ("func", "args", "keywords"), ast.Subscript: ("value", "slice"), ast.Attribute: ("value",),
    ast.Slice: ("lower", "upper", "step"), ast.List: ("elts",), ast.Tuple: ("elts",), ast.Dict: ("keys", "values"),
}
_CALLEE = object()  # the keys handed to a call's function name: not a reference


#: a plain reference, ``fetch`` or ``fetch.rows.total``: most expressions are one
_DOTTED = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*){0,20}")


def dotted_reference(source: str) -> list[tuple[str, tuple]] | None:
    """The reference of a plain dotted name, read off the text: what ``parse_expression`` would
    find, without a parse (ASCII names, none a keyword or a constant, none starting with ``_``,
    nested 21 deep at most); None for anything else."""
    text = source.strip()
    if len(text) > MAX_EXPRESSION_LENGTH or _DOTTED.fullmatch(text) is None:
        return None
    parts = text.split(".")
    if parts[0] in CONSTANTS or any(iskeyword(part) for part in parts):
        return None
    return [(parts[0], tuple(parts[1:]))]


def compile_expression(source: str) -> ast.AST:
    """Parse one expression (the text inside ``${ }``); raise ExpressionError when malformed.

    Length and nesting are capped (MAX_EXPRESSION_LENGTH, MAX_NESTING) before and after the
    parse, so hostile text ends as an ExpressionError, never a RecursionError or MemoryError.
    """
    return _compiled(source)


@lru_cache(maxsize=4096)
def _compiled(source: str) -> ast.AST:
    return parse_expression(source)[0]


@lru_cache(maxsize=4096)
def expression_references(source: str) -> tuple:
    """``parse_expression``'s references alone: validation asks for them, and keeping the
    trees of a large workflow's expressions would leave ten thousand objects more for the
    garbage collector to scan, for runs that may never come (a run compiles what it reads)."""
    return parse_expression(source)[1]


def parse_expression(source: str) -> tuple[ast.AST, tuple]:
    """``compile_expression``'s tree, and the references the expression makes: ``(root name,
    (key, ...))`` for each name read (not a constant, not a called function), with the static
    keys right after it. One walk does every check and finds the references (a workflow of
    10 000 steps holds about as many expressions, each validated once)."""
    text = source.strip()
    if not text:
        raise ExpressionError("empty expression", short(source))
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"too large: the expression is {len(text):,} characters long "
                              f"(at most {MAX_EXPRESSION_LENGTH:,})", short(source))
    # each level of nesting takes a character: most expressions are too short to need a count
    if len(text) > MAX_NESTING and _nesting_bound(text) > MAX_NESTING and _text_nesting(text) > MAX_NESTING:
        raise ExpressionError(f"too large: the expression nests more than {MAX_NESTING} levels deep",
                              short(source))
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}", short(source)) from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise ExpressionError(f"too large: the expression is too complex to read "
                              f"(at most {MAX_NESTING} levels of nesting)", short(source)) from None
    deepest, problem, refs = _walk(tree.body)
    if deepest > MAX_NESTING:
        raise ExpressionError(f"too large: the expression nests more than {MAX_NESTING} levels deep", short(source))
    if problem is not None:
        message, whole = problem
        raise ExpressionError(message, source if whole else short(source))
    return tree.body, tuple(refs)


def _walk(body: ast.AST) -> tuple[int, tuple | None, list]:
    """Breadth first, as ``ast.walk`` (so the first problem found is the one it would find):
    the deepest nesting of expressions (``MAX_NESTING``), the first node that is not allowed
    as ``(message, whether the message shows the whole source)``, and the references."""
    queue = [(body, 1, ())]
    deepest = 1
    problem = None
    refs = []
    get = getattr
    for node, depth, keys in queue:  # the queue grows while it is read: breadth first
        if depth > deepest:
            deepest = depth
        kind = type(node)
        fields = _CHILDREN.get(kind)
        if fields is None:  # not allowed (or an operator): only its depth still matters
            if problem is None and not isinstance(node, _ALLOWED_NODES):
                problem = (f"{kind.__name__} is not allowed in expressions", True)
            for child in ast.iter_child_nodes(node):
                queue.append((child, depth + 1 if isinstance(child, ast.expr) else depth, ()))
            continue
        if kind is ast.Name:
            if problem is None and node.id.startswith("_"):
                problem = (f"unknown name '{node.id}'", True)
            if keys is not _CALLEE and node.id not in CONSTANTS:
                refs.append((node.id, tuple(reversed(keys)) if keys else ()))
            continue
        if kind is ast.Constant:
            if problem is None:
                problem = _constant_problem(node.value)
            continue
        if problem is None:
            if kind is ast.Attribute and node.attr.startswith("_"):
                problem = (f"'{node.attr}' is not allowed", True)
            elif kind is ast.Call:
                message = call_problem(node)
                if message:
                    problem = (message, True)
        inner = depth + 1
        if kind is ast.Attribute or kind is ast.Subscript:
            keys = keys if type(keys) is tuple else ()  # a callee's chain: no reference
        if kind is ast.Attribute:
            queue.append((node.value, inner, keys + (node.attr,)))
            continue
        if kind is ast.Subscript:
            static = type(node.slice) is ast.Constant
            queue.append((node.value, inner, keys + (node.slice.value,) if static else ()))
            queue.append((node.slice, inner, ()))
            continue
        if kind is ast.Call:
            queue.append((node.func, inner, _CALLEE))
            queue.extend((arg, inner, ()) for arg in node.args)
            queue.extend((word, depth, ()) for word in node.keywords)  # not expressions: no deeper
            continue
        for field in fields:
            value = get(node, field)
            if type(value) is list:
                queue.extend((item, inner, ()) for item in value if item is not None)
            elif value is not None:
                queue.append((value, inner, ()))
    return deepest, problem, refs


def _constant_problem(value) -> tuple | None:
    if not isinstance(value, _CONSTANT_TYPES):
        return f"{type(value).__name__} literals are not allowed", True
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        return (f"too large: an integer of {value.bit_length():,} bits (at most {MAX_INT_BITS:,})", False)
    return None


def _nesting_bound(text: str) -> int:
    """An upper bound of ``_text_nesting`` counted in C: every opening bracket and prefix
    operator, as if all were nested (most expressions are far below the cap: no loop)."""
    return (text.count("(") + text.count("[") + text.count("{") + text.count("-") + text.count("+")
            + text.count("~") + text.count("not"))


def _text_nesting(text: str) -> int:
    """A cheap upper bound of the nesting, read from the text before parsing it: brackets,
    and runs of prefix operators (``- - - 1``, ``not not x``) that the parser would recurse into."""
    depth = deepest = run = 0
    quote = None
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote, run = ch, 0
        elif ch in "([{":
            depth += 1
            deepest = max(deepest, depth + run)
        elif ch in ")]}":
            depth -= 1
        elif ch in "-+~":
            run += 1
            deepest = max(deepest, depth + run)
        elif text.startswith("not", i) and (i + 3 >= n or not (text[i + 3].isalnum() or text[i + 3] == "_")):
            run += 1
            deepest = max(deepest, depth + run)
            i += 2
        elif not ch.isspace():
            run = 0
        i += 1
    return deepest
