"""Fuzzing the expression evaluator: any text gives a value or an ExpressionError, quickly.

Random token soups and random syntax trees (unparsed to text) are evaluated against a scope
holding values that are huge to walk (``[[0] * 100000] * 5000``), a 2 MB string and secrets.
Nothing may escape but ExpressionError (no RecursionError, MemoryError, TypeError...), no
evaluation may freeze, nothing made may pass the caps, and no secret name or value may come
out. Derandomized, so a failure reproduces; about 10-15 s.
"""

import ast
import time

from hypothesis import HealthCheck, given, settings, strategies as st

from engine import ExpressionError
from engine.expr_limits import MAX_ITEMS, MAX_SIZE
from engine.expressions import Evaluator, compile_expression, render
from engine.scope import Scope, Secrets

FREEZE = 2.0  # seconds: a guard against a freeze, far above what any evaluation takes
SECRET = "s3cr3t-value-123"
SHARED = [[0] * 100_000] * 5_000
EXISTING = {
    "inputs": {"n": 3, "name": "ada", "items": [1, 2, 3], "flag": True},
    "fetch": {"rows": [{"id": i, "v": i * 1.5} for i in range(5)], "text": "hello"},
    "shared": SHARED,
    "big": list(range(200_000)),
    "text": "y" * 2_000_000,
    "deep": {"a": {"b": {"c": [1, [2, [3]]]}}},
}
SCOPE = Scope({**EXISTING, "secrets": Secrets({"TOKEN": SECRET})}, known=frozenset(EXISTING))
WHOLE = [v for v in EXISTING.values()] + [SHARED[0]]
FUZZ = settings(max_examples=1200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

NAMES = ["inputs", "fetch", "shared", "big", "text", "deep", "secrets", "nope", "true", "null", "_x", "loop"]
KEYS = ["n", "name", "items", "rows", "text", "a", "b", "c", "TOKEN", "__class__", "_private", "keys"]
FUNCTIONS = ["len", "str", "int", "float", "bool", "abs", "round", "min", "max", "sum", "sorted", "floor",
             "ceil", "list", "eval", "getattr", "open"]
INTS = st.one_of(st.integers(-3, 12), st.sampled_from([99999, 100000, 100001, 10 ** 6, 10 ** 9, 2 ** 62, 4096,
                                                       -(10 ** 9), 5000]))
STRINGS = st.one_of(st.text(max_size=8), st.sampled_from(["%s", "%099999999d", "%.9999999f", "%(n)s", "%*d",
                                                          "%c", "%%", "%5.3f", "%r", "x" * 100, "%0100000d"]))
OPS = [ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift, ast.RShift,
       ast.BitOr, ast.BitXor, ast.BitAnd, ast.MatMult]
CMPS = [ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot]

leaves = st.one_of(
    INTS.map(ast.Constant), STRINGS.map(ast.Constant),
    st.floats(allow_nan=True, allow_infinity=False).map(ast.Constant),
    st.sampled_from([True, False, None]).map(ast.Constant),
    st.sampled_from(NAMES).map(lambda n: ast.Name(n, ast.Load())),
)


def _branches(children):
    return st.one_of(
        st.builds(lambda l, o, r: ast.BinOp(l, o(), r), children, st.sampled_from(OPS), children),
        st.builds(lambda o, v: ast.UnaryOp(o(), v), st.sampled_from([ast.USub, ast.UAdd, ast.Not, ast.Invert]),
                  children),
        st.builds(lambda l, o, r: ast.Compare(l, [o()], [r]), children, st.sampled_from(CMPS), children),
        st.builds(lambda o, vs: ast.BoolOp(o(), vs), st.sampled_from([ast.And, ast.Or]),
                  st.lists(children, min_size=2, max_size=3)),
        st.builds(ast.IfExp, children, children, children),
        st.builds(lambda f, args: ast.Call(ast.Name(f, ast.Load()), args, []), st.sampled_from(FUNCTIONS),
                  st.lists(children, max_size=3)),
        st.builds(lambda v, k: ast.Subscript(v, k, ast.Load()), children, children),
        st.builds(lambda v, a, b, c: ast.Subscript(v, ast.Slice(a, b, c), ast.Load()), children,
                  st.none() | INTS.map(ast.Constant), st.none() | INTS.map(ast.Constant),
                  st.none() | st.sampled_from([-1, 2, 100]).map(ast.Constant)),
        st.builds(lambda v, k: ast.Attribute(v, k, ast.Load()), children, st.sampled_from(KEYS)),
        st.lists(children, max_size=4).map(lambda xs: ast.List(xs, ast.Load())),
        st.lists(children, max_size=3).map(lambda xs: ast.Tuple(xs, ast.Load())),
        st.lists(st.tuples(st.none() | children, children), max_size=3).map(
            lambda kv: ast.Dict([k for k, _ in kv], [v for _, v in kv])),
    )


trees = st.recursive(leaves, _branches, max_leaves=25)
TOKENS = (NAMES + KEYS + FUNCTIONS + ["(", ")", "[", "]", "{", "}", ",", ":", ".", "+", "-", "*", "**", "/",
                                      "%", "<<", ">>", "==", "in", "not", "and", "or", "if", "else", "0",
                                      "1", "100000", "10 ** 9", "'a'", "'%0999999d'", "[0]", "'x' * 9",
                                      "lambda", "for", "__import__", "f'{1}'", "1j", "b'x'", "...", "*"])
soups = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=30).map(" ".join)


def check(text: str) -> None:
    start = time.perf_counter()
    try:
        result = Evaluator().evaluate(text, SCOPE)
    except ExpressionError as exc:
        assert SECRET not in str(exc)
        result = None
    elapsed = time.perf_counter() - start
    assert elapsed < FREEZE, f"${{{text}}} took {elapsed:.1f} s"
    if not any(result is v for v in WHOLE):  # values made by the expression stay within the caps
        if isinstance(result, str):
            assert len(result) <= MAX_SIZE
        elif isinstance(result, (list, tuple, dict)):
            assert len(result) <= MAX_ITEMS
        elif isinstance(result, int):
            assert result.bit_length() <= 14_000
    assert not isinstance(result, Secrets)


@FUZZ
@given(trees)
def test_random_syntax_trees_give_a_value_or_an_expression_error(tree):
    text = ast.unparse(ast.fix_missing_locations(ast.Expression(tree)))
    check(text)
    # as one part of a template too: interpolated text is capped like any string
    try:
        out = render(f"a ${{{text}}} b", SCOPE, Evaluator()) if "}" not in text else ""
        assert len(out) <= MAX_SIZE + 4 and SECRET not in out or "secrets" in text
    except ExpressionError:
        pass


@FUZZ
@given(soups)
def test_random_token_soups_give_a_value_or_an_expression_error(text):
    check(text)


@settings(max_examples=600, deadline=None, derandomize=True, database=None)
@given(st.one_of(
    st.text(max_size=200),
    st.tuples(st.sampled_from(["(", "[", "-", "~", "not ", "{'a': ", "x.", "f(", "1 + ", "a if b else "]),
              st.integers(1, 6000), st.sampled_from(["1", "x", "]", ")", "", "}"])).map(
        lambda t: t[0] * t[1] + t[2]),
))
def test_any_text_compiles_or_is_an_expression_error(text):
    try:
        compile_expression(text)
    except ExpressionError:
        pass
