"""Fuzzing ``engine.load``: any text gives a Workflow or WorkflowInvalid, nothing else.

Two kinds of input: YAML-ish token soups (flow and block punctuation, anchors and aliases,
tags, huge and non-finite numbers, expressions, NUL and lone surrogates, several documents),
and random workflows built from steps, blocks, ``needs``, expressions and ``with`` values,
written as YAML or JSON. Every issue must carry a position and a message, and a workflow that
loads must also plan. Derandomized, so a failure reproduces; about 15 s.
"""

import json

import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

import engine
from engine import Budgets, EngineSettings

FUZZ = settings(max_examples=250, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
#: small budgets, so literal foreach lists can pass them
SETTINGS = EngineSettings(budgets=Budgets(steps=40, items_per_block=6, items_per_run=30, sub_runs=3))


def check(text):
    """Load ``text``; only a Workflow (that plans) or WorkflowInvalid with sound issues may come out."""
    try:
        workflow = engine.load(text, "fuzz.yaml", settings=SETTINGS, secrets=["TOKEN"])
    except engine.WorkflowInvalid as exc:
        assert exc.issues
        for issue in exc.issues:
            assert isinstance(issue.line, int) and issue.line >= 1
            assert isinstance(issue.column, int) and issue.column >= 1
            assert isinstance(issue.path, str) and isinstance(issue.message, str) and issue.message
            assert len(issue.message) < 2_000
        str(exc)
        return None
    assert isinstance(workflow, engine.Workflow)
    plan = engine.plan(workflow)
    json.dumps(plan.describe())
    return workflow


# -- YAML-ish text -------------------------------------------------------------------------------
TOKENS = [
    "name: x\n", "name: y\n", "steps:\n", "steps: ", "- ", "  - ", "    ", "\n", "  ", "{", "}", "[", "]",
    ": ", ":", ", ", ",", "? ", "id: a", "id: b", "uses: wait", "uses: merge", "with: ", "seconds: 0",
    "value: ", "needs: [a]", "needs: [b, a]", "needs: ", "parallel: ", "foreach: ", "steps: ", "if: ",
    "timeout: ", "retry: ", "&a ", "*a", "&b ", "*b", "!!int ", "!!float ", "!!str ", "!!binary ", "!!set ",
    "!!python/object:os.system ", "!local ", "<<: ", "~", "null", "true", "no", "on", ".inf", "-.inf", ".nan",
    "9" * 30, "9" * 5000, "0x" + "f" * 40, "0b" + "1" * 100, "1.0e+400", "1_000", "190:20:30", "2025-01-01",
    "${a}", "${", "}", "${" + "(" * 80, ")" * 80, "${" + "-" * 5000 + "1}", "$${x}", "${inputs.n}",
    "${secrets.TOKEN}", "${len(a) * 2}", "'", "\"", "'${a}'", "|\n", ">\n", "# c\n", "---\n", "...\n",
    "%YAML 1.1\n", "\t", "\x00", "\ud800", "\ufeff", "é", "\r\n", "inputs: ", "outputs: ", "limits: ",
    "version: 2\n", "concurrency: ", "min_success: ", "as: ", "on_error: ",
]
texts = st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)), max_size=60).map("".join)


@settings(FUZZ, max_examples=600)
@given(texts)
def test_yaml_ish_text_loads_or_is_invalid(text):
    check(text)


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_load_or_are_invalid(data):
    check(data)


# -- random workflows ------------------------------------------------------------------------------
# Mostly well formed, with a hostile part here and there: a document broken at the top is
# refused before the checks that matter, so each choice is bad only one time in eight.
def often(good, bad):
    return st.integers(0, 7).flatmap(lambda k: bad if k == 0 else good)


GOOD_IDS = ["a", "b", "c", "d", "e", "f", "g"]
BAD_IDS = ["_x", "if", "loop", "inputs", "A1", "1a", "", "null", "a b"]
IDS = often(st.sampled_from(GOOD_IDS), st.sampled_from(BAD_IDS))
EXPRESSIONS = [
    "${a}", "${b.rows[0]}", "${c['k']}", "${inputs.n}", "${inputs.nope}", "${secrets.TOKEN}", "${secrets.NOPE}",
    "${item}", "${loop.index}", "${zz}", "${a + b}", "${len(a) if b else c}", "pre ${a} mid ${b} post",
    "${ {'k': a} }", "$${a}", "${d.x}", "${e[0]}", "${f}", "${g}", "${max(a, b, c)}",
]
BAD_EXPRESSIONS = [
    "${", "${a +}", "${" + "-" * 3000 + "1}", "${" + "(" * 100 + "1" + ")" * 100 + "}", "${" + "x" * 5000 + "}",
    "${a.__class__}", "${__import__('os')}", "${[a] * 99999999}", "${'%0999999d' % 1}", "${" + "9" * 5000 + "}",
    "${x for x in a}", "${lambda: 1}", "${(yield)}", "${a" + ".b" * 2000 + "}", "${" + "not " * 900 + "a}",
]
EXPRESSION = often(st.sampled_from(EXPRESSIONS), st.sampled_from(BAD_EXPRESSIONS))
NUMBERS = often(st.integers(-5, 5), st.one_of(
    st.sampled_from([2**63 - 1, -(2**63), 2**63, 2**70, -(10**40), 10**4000]),
    st.floats(allow_nan=True, allow_infinity=True)))
TEXT = often(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2ff), max_size=8), st.text(max_size=8))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT, EXPRESSION)
KEYS = often(st.sampled_from(["value", "k", "rows", "x"]),
             st.one_of(TEXT, st.integers(-3, 3), st.none(), st.booleans(), st.sampled_from(["${a}", "_k"])))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=10)
DURATIONS = often(st.sampled_from(["1s", "250ms", "2m", "1h", 0, 1.5]),
                  st.one_of(st.sampled_from(["soon", "-1", "9" * 400 + "h", "1e400", "9999999h"]), NUMBERS))
NEEDS = often(st.lists(IDS, max_size=3), SCALARS)


def _common(draw, data: dict) -> dict:
    data["id"] = draw(often(IDS, SCALARS))
    for key, strategy in [("needs", NEEDS), ("if", often(st.booleans(), EXPRESSION)), ("timeout", DURATIONS),
                          ("name", TEXT), ("bogus", SCALARS)]:
        if draw(st.integers(0, 5 if key == "needs" else 12)) == 0:
            data[key] = draw(strategy)
    return data


WITH = {
    "wait": st.fixed_dictionaries({"seconds": often(st.just(0), DURATIONS)}, optional={"value": VALUES}),
    "merge": st.fixed_dictionaries({"values": st.lists(VALUES, max_size=3)}),
    "transform": st.fixed_dictionaries({"value": VALUES}, optional={"compute": st.dictionaries(
        st.sampled_from(["t", "u"]), often(st.sampled_from(["x + 1", "y * 2"]), st.sampled_from(BAD_EXPRESSIONS)))}),
    "fail": st.fixed_dictionaries({"message": SCALARS}),
    "workflow": st.fixed_dictionaries({"name": st.sampled_from(["fuzz", "other"])}),
}


@st.composite
def action(draw):
    uses = draw(often(st.sampled_from(sorted(WITH)), st.sampled_from(["python", "sql", "http", "llm", "nope", "wiat"])))
    data = {"uses": uses}
    if uses in WITH:
        data["with"] = draw(often(WITH[uses], st.one_of(st.dictionaries(KEYS, VALUES, max_size=4), VALUES)))
    elif draw(st.booleans()):
        data["with"] = draw(st.dictionaries(KEYS, VALUES, max_size=3))
    if draw(st.integers(0, 8)) == 0:
        data["retry"] = draw(often(st.fixed_dictionaries({}, optional={
            "attempts": NUMBERS, "delay": DURATIONS, "backoff": NUMBERS, "max_delay": DURATIONS}), SCALARS))
    if draw(st.integers(0, 8)) == 0:
        data["on_error"] = draw(st.sampled_from(["fail", "continue", "wait_all", 3]))
    return _common(draw, data)


def block(children):
    @st.composite
    def build(draw):
        kind = draw(often(st.sampled_from(["parallel", "foreach", "group"]), st.just("both")))
        inner = draw(st.lists(children, min_size=draw(often(st.just(1), st.just(0))), max_size=4))
        data = {}
        if kind == "parallel":
            data["parallel"] = inner
            if draw(st.integers(0, 4)) == 0:
                data["min_success"] = draw(NUMBERS)
        elif kind == "foreach":
            data["foreach"] = draw(often(st.one_of(st.lists(SCALARS, max_size=8), EXPRESSION), SCALARS))
            data["steps"] = inner
            if draw(st.booleans()):
                data["as"] = draw(often(st.sampled_from(["item", "row", "x"]), IDS))
            if draw(st.integers(0, 4)) == 0:
                data["concurrency"] = draw(NUMBERS)
        elif kind == "group":
            data["steps"] = inner
        else:
            data.update({"parallel": inner, "uses": "wait"})
        return _common(draw, data)
    return build()


STEPS = st.recursive(action(), lambda children: st.one_of(block(children), children), max_leaves=14)


@st.composite
def workflows(draw):
    doc = {"name": draw(often(st.sampled_from(["fuzz", "a-b_c"]), SCALARS))}
    doc["steps"] = draw(often(st.lists(STEPS, max_size=8), SCALARS))
    if draw(st.integers(0, 3)) == 0:
        doc["inputs"] = draw(st.dictionaries(often(st.sampled_from(["n", "m"]), IDS), often(
            st.sampled_from(["string", "integer", "number", "array", "object", "boolean"]),
            st.one_of(st.just("date"), st.fixed_dictionaries({"type": st.sampled_from(["string", "integer"]),
                                                              "default": SCALARS}))), max_size=3))
    if draw(st.integers(0, 3)) == 0:
        doc["outputs"] = draw(st.dictionaries(st.sampled_from(["r", "s"]), VALUES, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        doc["limits"] = draw(st.fixed_dictionaries({}, optional={
            "concurrency": NUMBERS, "timeout": DURATIONS,
            "actions": st.dictionaries(st.sampled_from(["wait", "x"]), NUMBERS, max_size=2)}))
    depth = draw(st.sampled_from([0] * 12 + [1, 2, 30, 40]))  # now and then past the nesting limit
    for _ in range(depth):
        doc["steps"] = [{"id": "deep", "steps": doc["steps"] if isinstance(doc["steps"], list) else [doc["steps"]]}]
    return doc


def _text(doc, as_json: bool) -> str:
    if as_json:
        return json.dumps(doc, default=str)  # NaN and Infinity as JSON writes them (YAML reads text)
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=80)


@settings(FUZZ, max_examples=500)
@given(workflows(), st.booleans())
def test_random_workflows_load_or_are_invalid(doc, as_json):
    check(_text(doc, as_json))


@settings(FUZZ, max_examples=400)
@given(st.lists(st.tuples(st.sampled_from(GOOD_IDS), st.lists(st.sampled_from(GOOD_IDS), max_size=3),
                          st.sampled_from(EXPRESSIONS)), min_size=1, max_size=12))
def test_random_needs_graphs_load_or_are_invalid(rows):
    """Cycles, duplicates, later steps, self-needs and references in every combination."""
    steps = [{"id": i, "needs": n, "uses": "wait", "with": {"seconds": 0, "value": e}} for i, n, e in rows]
    workflow = check(json.dumps({"name": "g", "steps": steps}))
    if workflow is not None:  # what loads is a DAG whose order the planner can follow
        for k, node in enumerate(engine.plan(workflow).nodes):
            assert all(d < k for d in node.deps)
