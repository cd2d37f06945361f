"""Parsing expressions: the allowed syntax, and caps on length and nesting checked at load.

Runs before any evaluation (the validator calls it for every ``${...}`` of a workflow), so a
hostile text ends as an ExpressionError naming the problem, never a RecursionError, a
MemoryError or a ValueError out of ``ast.parse`` (``'(' * 5000``, ``'-' * 10000 + '1'``,
5 000-digit integers).
"""

from __future__ import annotations

import ast
from functools import lru_cache

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


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> ast.AST:
    """Parse one expression (the text inside ``${ }``); raise ExpressionError when malformed.

    Length and nesting are capped (MAX_EXPRESSION_LENGTH, MAX_NESTING) before and after the
    parse, so hostile text ends as an ExpressionError, never a RecursionError or MemoryError.
    """
    text = source.strip()
    if not text:
        raise ExpressionError("empty expression", short(source))
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"too large: the expression is {len(text):,} characters long "
                              f"(at most {MAX_EXPRESSION_LENGTH:,})", short(source))
    if _text_nesting(text) > MAX_NESTING:
        raise ExpressionError(f"too large: the expression nests more than {MAX_NESTING} levels deep",
                              short(source))
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}", short(source)) from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise ExpressionError(f"too large: the expression is too complex to read "
                              f"(at most {MAX_NESTING} levels of nesting)", short(source)) from None
    if _tree_nesting(tree.body) > MAX_NESTING:
        raise ExpressionError(f"too large: the expression nests more than {MAX_NESTING} levels deep", short(source))
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(f"{type(node).__name__} is not allowed in expressions", source)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"'{node.attr}' is not allowed", source)
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(f"unknown name '{node.id}'", source)
        if isinstance(node, ast.Call):
            problem = call_problem(node)
            if problem:
                raise ExpressionError(problem, source)
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, _CONSTANT_TYPES):
                raise ExpressionError(f"{type(node.value).__name__} literals are not allowed", source)
            if isinstance(node.value, int) and node.value.bit_length() > MAX_INT_BITS:
                raise ExpressionError(f"too large: an integer of {node.value.bit_length():,} bits "
                                      f"(at most {MAX_INT_BITS:,})", short(source))
    return tree.body


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


def _tree_nesting(tree: ast.AST) -> int:
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in ast.iter_child_nodes(node):
            stack.append((child, depth + 1 if isinstance(child, ast.expr) else depth))
    return deepest
