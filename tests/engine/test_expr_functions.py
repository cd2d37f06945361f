"""The functions of expressions: what each returns, how each refuses wrong or hostile input.

Every function checks its arguments' types with a message naming it, sizes its result before
making it against the caps of engine/expr_limits.py, and ends quickly whatever it is given.
"""

import re
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import engine
from engine import ExpressionError
from engine.expr_functions import FUNCTIONS
from engine.expr_limits import MAX_ITEMS, MAX_SIZE
from engine.expressions import RESERVED, Evaluator, compile_expression, references, render
from tests.engine.helpers import SETTINGS

SCOPE = {
    "data": {"name": "  Ada Lovelace ", "tags": ["b", "a", "b"], "none": None, "n": 3, "rows": [{"id": 1}]},
    "inputs": {"csv": "x,y,z", "when": "2025-03-04T05:06:07Z"},
}
SHARED = [[0] * 100_000] * 5_000  # huge to walk, cheap to hold
HOSTILE = {
    "shared": SHARED, "big": list(range(200_000)), "text": "y" * 2_000_000, "mb": "a" * 1_000_000,
    "bigmap": {str(i): i for i in range(200_000)},
    "nested": "[" * 100_000 + "]" * 100_000, "lists": "[" + "[]," * 333_332 + "[]]",
    "chains": "[" + ",".join(["[" * 900 + "]" * 900] * 550) + "]",  # many deep lists, few commas
}
QUICK = 1.0  # seconds: far above what any of these takes


def ev(text, scope=SCOPE):
    return Evaluator().evaluate(text, scope)


def refused(text, match, scope=SCOPE):
    start = time.perf_counter()
    with pytest.raises(ExpressionError, match=match) as info:
        ev(text, scope)
    assert time.perf_counter() - start < QUICK, text
    return str(info.value)


@pytest.mark.parametrize("expr, value", [
    # default
    ("default(data.none, 1)", 1),
    ("default(data.missing, 'x')", "x"),
    ("default(data.missing.deeper.still, 2)", 2),
    ("default(data.tags[10], 'none')", "none"),
    ("default(data.none.key, 0)", 0),
    ("default(data.n, 0)", 3),
    ("default(data.rows[0].id, 0)", 1),
    ("default(data.rows[0]['nope'], 5)", 5),
    ("default(0, 1)", 0),
    ("default('', 1)", ""),
    ("default(null, null)", None),
    ("default(default(data.a, data.b), 7)", 7),
    # text
    ("lower('ÀbC')", "àbc"),
    ("upper('straße')", "STRASSE"),
    ("trim(data.name)", "Ada Lovelace"),
    ("trim(' \\t\\n')", ""),
    ("replace('a-b-c', '-', '+')", "a+b+c"),
    ("replace('abc', '', '.')", ".a.b.c."),
    ("replace('abc', 'x', 'y')", "abc"),
    ("split(inputs.csv, ',')", ["x", "y", "z"]),
    ("split('', ',')", [""]),
    ("split('a::b', '::')", ["a", "b"]),
    ("join(data.tags, ', ')", "b, a, b"),
    ("join([1, 'x', 2.5], '/')", "1/x/2.5"),
    ("join([], ',')", ""),
    ("startswith('report.csv', 'rep')", True),
    ("endswith('report.csv', '.csv')", True),
    ("endswith('report.csv', '')", True),
    # data
    ("contains('abc', 'bc')", True),
    ("contains(data.tags, 'a')", True),
    ("contains(data.tags, 'z')", False),
    ("contains(data, 'name')", True),
    ("contains(data, [1])", False),
    ("contains(data.rows, {'id': 1})", True),
    ("to_json({'a': [1, null, true], 'é': 'x'})", '{"a":[1,null,true],"é":"x"}'),
    ("to_json('say \"hi\"')", '"say \\"hi\\""'),
    ("to_json(1.5)", "1.5"),
    ("to_json(null)", "null"),
    ("from_json('{\"a\": [1, 2.5, null, true, \"x\"]}')", {"a": [1, 2.5, None, True, "x"]}),
    ("from_json(to_json(data))['name']", "  Ada Lovelace "),
    ("from_json(' 7 ')", 7),
    ("keys({'b': 1, 'a': 2})", ["b", "a"]),
    ("values({'b': 1, 'a': 2})", [1, 2]),
    ("keys({})", []),
    ("unique(data.tags)", ["b", "a"]),
    ("unique([1, 1.0, true, '1', null, null])", [1, True, "1", None]),
    ("unique([{'a': 1, 'b': 2}, {'b': 2, 'a': 1}, [1], [1]])", [{"a": 1, "b": 2}, [1]]),
    ("flatten([[1, 2], 3, [[4]], []])", [1, 2, 3, [4]]),
    ("zip([1, 2, 3], ['a', 'b'])", [[1, "a"], [2, "b"]]),
    ("zip([1, 2], ['a', 'b'], [true, false])", [[1, "a", True], [2, "b", False]]),
    ("zip([], [1])", []),
    ("range(3)", [0, 1, 2]),
    ("range(0)", []),
    ("range(-2)", []),
    ("range(2, 5)", [2, 3, 4]),
    ("range(10, 0, -3)", [10, 7, 4, 1]),
    ("len(range(10000))", 10_000),
    # dates
    ("format_date(inputs.when, '%Y-%m-%d')", "2025-03-04"),
    ("format_date('2025-03-04', '%d/%m/%Y %H:%M')", "04/03/2025 00:00"),
    ("format_date('2025-03-04T05:06:07+02:00', '%H:%M %z')", "05:06 +0200"),
    ("format_date('2025-03-04T05:06:07.250Z', '%S.%f %Z %%')", "07.250000 UTC %"),
    ("format_date('2025-03-04T05:06:07', '%A %B %j')", "Tuesday March 063"),
])
def test_function_values(expr, value):
    assert ev(expr) == value


def test_now_is_iso_text_in_utc_to_the_millisecond():
    before = datetime.now(timezone.utc)
    text = ev("now()")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
    moment = datetime.fromisoformat(text)
    assert before - timedelta(seconds=1) <= moment <= datetime.now(timezone.utc)
    assert ev("format_date(now(), '%Y')") == str(moment.year)


def test_default_evaluates_its_fallback_only_when_it_is_used():
    assert ev("default(data.n, 1 / 0)") == 3
    with pytest.raises(ExpressionError, match="division by zero"):
        ev("default(data.none, 1 / 0)")


@pytest.mark.parametrize("expr, match", [
    ("default(data.n.real, 1)", "cannot read 'real' of a number"),  # a wrong type is not a missing value
    ("default(data.tags['x'], 1)", "cannot index a list"),
    ("default(1 / 0, 1)", "division by zero"),
    ("default(secrets.NOPE, 1)", "unknown secret"),
    ("default(nobody, 1)", "unknown name 'nobody'"),
    ("default(mb * 2, 1)", "too large"),
])
def test_default_only_hides_missing_keys_indexes_and_nulls(expr, match):
    from engine.scope import Secrets

    refused(expr, match, {**SCOPE, "mb": "a" * 1_000_000, "secrets": Secrets({})})


def test_a_missing_key_outside_default_is_still_an_error():
    refused("data.missing", r"no key 'missing' \(keys: n, name, none, rows, tags\)")
    refused("default(data.missing, 1) + data.missing", "no key 'missing'")


@pytest.mark.parametrize("expr, match", [
    ("lower(data.tags)", r"^lower\(\) takes text, got a list"),
    ("upper(1)", r"^upper\(\) takes text, got a number"),
    ("trim(null)", r"^trim\(\) takes text, got null"),
    ("replace(data.tags, 'a', 'b')", r"^replace\(\) takes text for 'text', got a list"),
    ("replace('a', ['a'], 'b')", r"^replace\(\) takes text for 'old', got a list"),
    ("replace('a', 'a', 1)", r"^replace\(\) takes text for 'new', got a number"),
    ("split('a', 1)", r"^split\(\) takes text for 'sep', got a number"),
    ("split('a', '')", r"^split\(\) takes a separator that is not empty"),
    ("join('abc', ',')", r"^join\(\) takes a list for 'list', got text"),
    ("join([1, null], ',')", r"^join\(\) takes a list of text and numbers; item 1 is null"),
    ("join([true], ',')", r"item 0 is a boolean"),
    ("join(['a'], 0)", r"^join\(\) takes text for 'sep', got a number"),
    ("startswith(1, 'a')", r"^startswith\(\) takes text for 'text'"),
    ("endswith('a', null)", r"^endswith\(\) takes text for 'suffix', got null"),
    ("contains(1, 1)", r"^contains\(\) takes text, a list or a mapping, got a number"),
    ("contains('abc', 1)", r"^contains\(\) looks for text in text, got a number"),
    ("contains(null, 'a')", r"got null"),
    ("keys([1])", r"^keys\(\) takes a mapping, got a list"),
    ("values('ab')", r"^values\(\) takes a mapping, got text"),
    ("unique({'a': 1})", r"^unique\(\) takes a list, got a mapping"),
    ("flatten('ab')", r"^flatten\(\) takes a list, got text"),
    ("zip([1], 'ab')", r"^zip\(\) takes a list for 'argument 2', got text"),
    ("range('3')", r"^range\(\) takes an integer for 'n', got text"),
    ("range(1.5)", r"^range\(\) takes an integer for 'n', got a number"),
    ("range(true)", r"^range\(\) takes an integer for 'n', got a boolean"),
    ("range(0, 10, 0)", r"^range\(\) takes a step that is not 0"),
    ("from_json(1)", r"^from_json\(\) takes text, got a number"),
    ("from_json('{')", r"^from_json\(\): not valid JSON: .* \(line 1, column 2\)"),
    ("from_json('')", r"^from_json\(\): not valid JSON"),
    ("from_json('NaN')", r"^from_json\(\): NaN is not JSON"),
    ("from_json('[-Infinity]')", r"^from_json\(\): -Infinity is not JSON"),
    ("from_json('1e999')", r"^from_json\(\): a number out of range"),
    ("to_json(float('nan'))", r"^to_json\(\) cannot write NaN or infinity"),
    ("to_json({(1, 2): 1})", r"^to_json\(\) writes mappings whose keys are text"),
    ("format_date(1, '%Y')", r"^format_date\(\) takes text for 'date', got a number"),
    ("format_date('2025-01-01', null)", r"^format_date\(\) takes text for 'format', got null"),
    ("format_date('yesterday', '%Y')", r"^format_date\(\): 'yesterday' is not an ISO 8601 date"),
    ("format_date('2025-13-01', '%Y')", r"is not an ISO 8601 date"),
])
def test_wrong_arguments_get_a_message_naming_the_function(expr, match):
    message = refused(expr, match)
    assert "Traceback" not in message and "<" not in message


@pytest.mark.parametrize("expr, match", [
    ("len(1)", r"^len\(\) takes text, a list or a mapping, got a number"),
    ("abs('x')", r"^abs\(\) takes a number, got text"),
    ("floor([1])", r"^floor\(\) takes a number, got a list"),
    ("round('x')", r"^round\(\) takes a number for 'number', got text"),
    ("round(1.5, 'x')", r"^round\(\) takes an integer for 'digits', got text"),
    ("min(1)", r"^min\(\) takes a list \(or several arguments\), got a number"),
    ("max([])", r"^max\(\) of an empty list"),
    ("sorted([1, 'a'])", r"^sorted\(\) compares numbers with numbers and text with text"),
    ("min(1, 'a')", r"^min\(\) compares numbers with numbers and text with text"),
    ("sum(['a'])", r"^sum\(\) adds numbers only"),
    ("sum('abc')", r"^sum\(\) takes a list for 'list', got text"),
    ("int('x')", r"^int\(\) cannot read 'x' as an integer"),
    ("int([1])", r"^int\(\) takes text or a number, got a list"),
    ("int('5', 99)", r"^int\(\) takes a base from 2 to 36"),
    ("int('1' * 5000)", r"^too large"),
    ("float('x')", r"^float\(\) cannot read 'x' as a number"),
])
def test_the_first_functions_say_what_is_wrong_in_the_users_words(expr, match):
    refused(expr, match)


@pytest.mark.parametrize("expr, match", [
    ("lowr(x)", r"unknown function 'lowr' \(did you mean 'lower'\?\)"),
    ("form_json(x)", r"unknown function 'form_json' \(did you mean 'from_json'\?\)"),
    ("spam(x)", r"unknown function 'spam' \(the functions are: abs, bool, ceil, contains, default,"),
    ("eval('1')", r"unknown function 'eval'"),
    ("x.lower()", r"'\.lower\(\)' is not allowed: values have no methods; call the function instead"),
    ("x.y()", r"only functions may be called, by name"),
    ("lower()", r"lower\(\) takes 1 argument, got 0"),
    ("lower('a', 'b')", r"lower\(\) takes 1 argument, got 2"),
    ("replace('a', 'b')", r"replace\(\) takes 3 arguments, got 2"),
    ("default(x)", r"default\(\) takes 2 arguments, got 1"),
    ("now(1)", r"now\(\) takes no arguments, got 1"),
    ("range()", r"range\(\) takes 1 to 3 arguments, got 0"),
    ("zip([1])", r"zip\(\) takes at least 2 arguments, got 1"),
    ("min()", r"min\(\) takes at least 1 argument, got 0"),
    ("len(x, key=1)", r"len\(\) takes no named arguments"),
    ("x" * 200 + "(1)", r"unknown function 'x{57}\.\.\.'"),
])
def test_calls_are_checked_when_the_expression_is_read(expr, match):
    with pytest.raises(ExpressionError, match=match):
        compile_expression(expr)


def test_the_validator_reports_an_unknown_function_with_a_suggestion():
    text = "name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0, value: '${lowr(inputs)}'}}\n"
    found = [i.format("wf.yaml") for i in engine.validate(text, "wf.yaml", settings=SETTINGS)]
    assert len(found) == 1 and "unknown function 'lowr' (did you mean 'lower'?)" in found[0], found


def test_references_inside_calls_are_found_and_function_names_are_not_references():
    assert sorted(references("default(fetch.missing.x, other)")) == [("fetch", ("missing", "x")), ("other", ())]
    assert references("now()") == []


@pytest.mark.parametrize("name", ["error", "run"])
def test_error_and_run_are_reserved_names(name):
    assert name in RESERVED
    text = f"name: x\nsteps:\n  - {{id: {name}, uses: wait, with: {{seconds: 0}}}}\n"
    found = [i.format("wf.yaml") for i in engine.validate(text, "wf.yaml", settings=SETTINGS)]
    assert any(f"'{name}' is a reserved name" in f for f in found), found


def test_functions_work_inside_templates():
    assert render("${upper(trim(data.name))} <${join(split(inputs.csv, ','), '|')}>", SCOPE, Evaluator()) == \
        "ADA LOVELACE <x|y|z>"
    assert render("${default(data.missing, [])}", SCOPE, Evaluator()) == []


# ---- hostile input -------------------------------------------------------------------------

@pytest.mark.parametrize("expr, match", [
    # results sized before they are made
    ("replace(mb, 'a', mb)", r"too large: a string of 1,000,000,000,000 characters"),
    ("replace(mb, '', 'x')", "too large"),
    ("replace(mb[:500000], 'a', 'aaa')", "too large"),
    ("split(mb, 'a')", r"too large: split\(\) would make a list of 1,000,001 texts"),
    ("split(text, ',')", "too large"),
    ("join(big, ',')", r"too large: a list of 200,000 elements"),
    ("join(range(10000), mb[:200])", r"too large: join\(\) would make a string"),
    ("join([mb[:600000], mb[:600000]], '')", "too large"),
    ("lower(text)", "too large"),
    ("upper(mb + 'ß')", "too large"),
    ("trim(text)", "too large"),
    ("to_json(shared)", r"too large: to_json\(\) writes values of at most"),
    ("to_json(big)", "too large"),
    ("to_json(text)", "too large"),
    ("to_json(mb)", "too large"),  # its quotes make it one character too long
    ("keys(bigmap)", "too large"),
    ("values(bigmap)", "too large"),
    ("unique(big)", "too large"),
    ("unique(shared)", "too large"),
    ("flatten(shared)", r"too large: flatten\(\) would make a list of more than 100,000 elements"),
    ("flatten([shared[0], [1]])", "too large"),
    ("zip(big, big)", r"too large: zip\(\) would make 200,000 rows"),
    ("zip(shared, shared)", "too large"),
    ("range(10001)", r"too large: range\(\) of more than 10,000 numbers"),
    ("range(10 ** 1000)", "too large"),
    ("range(-10 ** 1000, 10 ** 1000)", "too large"),
    # hostile JSON text: deep, huge, long numbers
    ("from_json(nested)", r"too large: from_json\(\) reads data nested at most 100 levels deep"),
    ("from_json('[' * 101 + ']' * 101)", "nested at most 100 levels"),
    ("from_json('{\"a\":' * 101 + '1' + '}' * 101)", "nested at most 100 levels"),
    ("from_json(lists)", r"too large: from_json\(\) reads data of at most 100,000 elements"),
    ("from_json(chains)", r"too large: from_json\(\) reads data of at most 100,000 elements"),
    ("from_json(text)", "too large: a string of 2,000,000 characters"),
    ("from_json('1' * 2000)", r"too large: from_json\(\): an integer of"),
    ("from_json('1' * 5000)", "too large"),
    # hostile date formats: widths, flags and platform extensions are not read at all
    ("format_date('2025-01-01', '%1000000Y')", r"'%1' is not a supported directive"),
    ("format_date('2025-01-01', '%-d')", r"'%-' is not a supported directive"),
    ("format_date('2025-01-01', '%_5H')", "not a supported directive"),
    ("format_date('2025-01-01', '%Ey')", "not a supported directive"),
    ("format_date('2025-01-01', '%s')", "not a supported directive"),
    ("format_date('2025-01-01', 'at %')", r"'%' is not a supported directive"),
    ("format_date('2025-01-01', mb)", "takes a format of at most 200 characters"),
    ("format_date(mb, '%Y')", "takes a date of at most 64 characters"),
    # work: the same big value many times over runs out of the budget, not of time
    (" + ".join(["len(to_json(shared[0][:90000]))"] * 30), "too large: the expression handles too much data"),
    (" + ".join(["len(unique([shared[0][:90000]]))"] * 30), "too large: the expression handles too much data"),
    (" + ".join(["len(from_json(json))"] * 30), "too large: the expression handles too much data"),
])
def test_hostile_arguments_are_refused_quickly(expr, match):
    import json

    refused(expr, match, {**HOSTILE, "json": json.dumps(list(range(90_000)))})


def test_results_up_to_the_caps_are_made():
    scope = {**HOSTILE}
    assert len(ev("replace(mb[:500000], 'a', 'bb')", scope)) == MAX_SIZE
    assert len(ev("split(mb[:99999], 'a')", scope)) == MAX_ITEMS
    assert len(ev("from_json('[' * 100 + ']' * 100)", scope)) == 1
    assert ev("len(from_json('[\"' + '[,{' * 300000 + '\"]')[0])", scope) == 900_000  # brackets in text
    assert ev("format_date('2025-01-01', '%Y' * 100)", scope) == "2025" * 100
    assert len(ev("unique(big[:99999])", scope)) == 99_999


FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ARGS = st.sampled_from(["shared", "big", "text", "mb", "bigmap", "nested", "lists", "null", "1", "-1", "10 ** 9",
                        "'a'", "''", "','", "'%Y'", "'%99999999Y'", "[1, [2]]", "{'a': [1]}", "true", "1.5",
                        "'2025-01-01'", "shared[0]", "big[:99999]", "mb[:99999]", "range(10000)",
                        "'[' * 200 + ']' * 200"])


@FUZZ
@given(st.sampled_from(sorted(FUNCTIONS)), st.lists(ARGS, max_size=3))
def test_any_function_with_any_arguments_gives_a_value_or_an_expression_error_quickly(name, args):
    expr = f"{name}({', '.join(args)})"
    start = time.perf_counter()
    try:
        result = ev(expr, HOSTILE)
    except ExpressionError:
        result = None
    assert time.perf_counter() - start < QUICK, expr
    if not any(result is v for v in [*HOSTILE.values(), SHARED[0]]):
        if isinstance(result, str):
            assert len(result) <= MAX_SIZE, expr
        elif isinstance(result, (list, tuple, dict)):
            assert len(result) <= MAX_ITEMS, expr


# ---- the reference in docs/format.md ---------------------------------------------------------

def _documented():
    import json
    import pathlib

    text = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "format.md").read_text()
    section = text.split("\n### Functions\n", 1)[1].split("```yaml", 1)[0]
    scope = {"order": json.loads(re.search(r"`order` is a step whose output is\s+`(\{.*?\})`", section).group(1))}
    rows = []
    for line in section.splitlines():
        found = re.fullmatch(r"\|.*\| `(.+?)` \| `(.+?)`(?: \(for example\))? \|", line)
        if found:
            rows.append((found.group(1), json.loads(found.group(2)), scope))
    return rows


DOCUMENTED = _documented()


def test_the_reference_documents_every_function():
    assert len(DOCUMENTED) >= 30
    called = {name for expr, _, _ in DOCUMENTED for name in re.findall(r"\b([a-z_]+)\(", expr)}
    assert set(FUNCTIONS) <= called, set(FUNCTIONS) - called


@pytest.mark.parametrize("expr, result, scope", DOCUMENTED, ids=[row[0] for row in DOCUMENTED])
def test_each_example_of_the_reference_gives_the_documented_result(expr, result, scope):
    value = ev(expr, scope)
    if expr == "now()":
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value) and len(value) == len(result)
    else:
        assert value == result and type(value) is type(result)
