"""Expressions are evaluated safely and read mapping keys only."""

import pytest

from engine import ExpressionError
from engine.expressions import Evaluator, references, render, split_template

SCOPE = {"fetch": {"items": [1, 2, 3], "keys": "K", "values": "V", "get": "G", "n": 2},
         "inputs": {"name": "ada", "flag": True}}


def ev(text):
    return Evaluator().evaluate(text, SCOPE)


@pytest.mark.parametrize("expr, value", [
    ("fetch.items[0] + fetch.n", 3),
    ("fetch.items[-1]", 3),
    ("fetch['items'][1]", 2),
    ("len(fetch.items)", 3),
    ("fetch.n * 10 / 4", 5.0),
    ("inputs.flag and fetch.n >= 2", True),
    ("not inputs.flag or false", False),
    ("'ada' in inputs.name", True),
    ("2 in fetch.items", True),
    ("null", None),
    ("inputs.name == 'ada'", True),
    ("[fetch.n, 'x']", [2, "x"]),
    ("{'a': fetch.n}", {"a": 2}),
    ("fetch.n if inputs.flag else 0", 2),
])
def test_expression_values(expr, value):
    assert ev(expr) == value


def test_dotted_names_are_always_mapping_keys():
    assert [ev("fetch.items"), ev("fetch.keys"), ev("fetch.values"), ev("fetch.get")] == [[1, 2, 3], "K", "V", "G"]


@pytest.mark.parametrize("expr", [
    "__import__('os')",
    "__import__('os').system('echo owned')",
    "inputs.__class__",
    "inputs.__class__.__mro__",
    "inputs['__class__']",
    "fetch.items.__len__()",
    "inputs.name.upper()",
    "(lambda: 1)()",
    "[x for x in fetch.items]",
    "open('/etc/passwd')",
    "getattr(inputs, 'name')",
    "f'{inputs}'",
    "inputs.name.__class__.__subclasses__()",
    "9 ** 9 ** 9",
    "'a' * 10 ** 10",
])
def test_code_execution_and_attribute_tricks_are_refused(expr):
    with pytest.raises(ExpressionError):
        ev(expr)


def test_missing_key_names_the_known_keys():
    with pytest.raises(ExpressionError, match="no key 'nope' \\(keys: get, items, keys, n, values\\)"):
        ev("fetch.nope")


def test_methods_of_values_are_not_reachable():
    with pytest.raises(ExpressionError, match="cannot read 'real' of a number"):
        ev("fetch.n.real")


def test_whole_expression_keeps_its_type_and_interpolation_gives_text():
    e = Evaluator()
    assert render("${fetch.items}", SCOPE, e) == [1, 2, 3]
    assert render("n=${fetch.n} items=${fetch.items} flag=${inputs.flag}", SCOPE, e) == \
        'n=2 items=[1, 2, 3] flag=true'
    assert render({"a": ["${fetch.n}", "x"]}, SCOPE, e) == {"a": [2, "x"]}


def test_escape_and_braces_inside_expressions():
    assert split_template("$${not} ${ {'a': 1}['a'] } ${'}'}") == [
        (False, "${not} "), (True, " {'a': 1}['a'] "), (False, " "), (True, "'}'")]


def test_references_list_roots_and_first_keys():
    assert sorted(references("fetch.items[0] + inputs.name + len(other)")) == [
        ("fetch", ("items", 0)), ("inputs", ("name",)), ("other", ())]


def test_secrets_are_read_by_name_and_never_listed():
    from engine.scope import Secrets

    secrets = Secrets({"API_TOKEN": "value-1234"})
    assert secrets["API_TOKEN"] == "value-1234"
    assert "value" not in repr(secrets) and "API_TOKEN" not in repr(secrets)
    for attempt in (list, len, sorted, dict, lambda s: "API_TOKEN" in s, lambda s: list(s.items())):
        with pytest.raises(ExpressionError, match="secrets cannot be listed"):
            attempt(secrets)
    with pytest.raises(ExpressionError, match="unknown secret 'NOPE'"):
        secrets["NOPE"]


def test_references_of_a_long_expression_are_found_in_one_pass():
    refs = references(" + ".join(f"s{i}.x" for i in range(90)))
    assert sorted(refs) == sorted((f"s{i}", ("x",)) for i in range(90))
