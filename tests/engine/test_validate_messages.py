"""Validation speaks the format's words: no raw pydantic sentence reaches a person, for any
construct (engine/validate_messages.py)."""

import pytest

import engine
from engine.validate_messages import plain
from tests.engine.helpers import SETTINGS

W = "{id: w, uses: wait, with: {seconds: 0}}"
RAW = ("Input should", "List should", "String should", "after validation", "instance of", "Value error")


def found(text: str) -> list[tuple[str, str]]:
    return [(i.path, i.message) for i in engine.validate(text, "wf.yaml", settings=SETTINGS)]


CASES = [
    ("steps:\n  - id: p\n    parallel: []\n", "steps[0].parallel", "a parallel block needs at least one branch"),
    ("steps:\n  - id: g\n    steps: []\n", "steps[0].steps", "a group needs at least one step"),
    ("steps:\n  - id: f\n    foreach: [1]\n    steps: []\n", "steps[0].steps", "a foreach body needs at least one step"),
    ("steps:\n  - id: s\n    switch: x\n    cases: {}\n", "steps[0].cases", "a switch needs at least one case"),
    ("steps:\n  - id: p\n    parallel:\n      - {id: b, steps: []}\n", "steps[0].parallel[0].steps",
     "a group needs at least one step"),
    ("steps:\n  - id: p\n    parallel:\n", "steps[0].parallel", "parallel takes a list, not nothing"),
    (f"steps:\n  - id: f\n    foreach: [1]\n    concurrency: 0\n    steps:\n      - {W}\n", "steps[0].concurrency",
     "concurrency must be at least 1, not 0"),
    (f"steps:\n  - id: f\n    foreach: [1]\n    concurrency: 1.5\n    steps:\n      - {W}\n", "steps[0].concurrency",
     "concurrency takes a whole number, not 1.5"),
    (f"steps:\n  - id: f\n    foreach: [1]\n    as: 'a b'\n    steps:\n      - {W}\n", "steps[0].as", "invalid as 'a b'"),
    (f"steps:\n  - id: p\n    min_success: -1\n    parallel:\n      - {W}\n", "steps[0].min_success",
     "min_success must be at least 0, not -1"),
    (f"steps:\n  - id: p\n    on_error: bogus\n    parallel:\n      - {W}\n", "steps[0].on_error",
     "on_error is one of fail_fast, wait_all, continue or rollback, not 'bogus'"),
    ("steps:\n  - {id: w, uses: wait, retry: {attempts: 1000}, with: {seconds: 0}}\n", "steps[0].retry.attempts",
     "attempts must be at most 100, not 1000"),
    ("steps:\n  - {id: w, uses: wait, retry: abc, with: {seconds: 0}}\n", "steps[0].retry",
     "retry takes a mapping like {attempts: 3, delay: 1s}, got text"),
    ("steps:\n  - {id: w, uses: wait, needs: 5, with: {seconds: 0}}\n", "steps[0].needs",
     "needs takes a list of step ids"),
    ("steps:\n  - {id: w, uses: wait, with: [1]}\n", "steps[0].with", "with takes a mapping of the action's parameters"),
    ("steps:\n  - {id: 5, uses: wait, with: {seconds: 0}}\n", "steps[0].id", "id takes text, not a number"),
    ("steps:\n  - {id: w, uses: http, with: {url: 'http://x.test', method: FOO}}\n", "steps[0].with.method",
     "method is one of GET, POST"),
    ("steps:\n  - {id: w, uses: http, with: {url: 'http://x.test', headers: [1]}}\n", "steps[0].with.headers",
     "headers takes a mapping, not a list"),
    (f"inputs: {{x: {{type: strin}}}}\nsteps:\n  - {W}\n", "inputs.x.type", "type is one of string, number"),
    (f"inputs: {{x: {{type: string, required: maybe}}}}\nsteps:\n  - {W}\n", "inputs.x.required",
     "required takes true or false, not 'maybe'"),
    (f"concurrency: {{limit: 0}}\nsteps:\n  - {W}\n", "concurrency.limit", "limit must be at least 1, not 0"),
    (f"concurrency: 5\nsteps:\n  - {W}\n", "concurrency", "concurrency takes a mapping like {limit: 1"),
    (f"title: [1]\nsteps:\n  - {W}\n", "title", "title takes text, not a list"),
    (f"outputs: [1]\nsteps:\n  - {W}\n", "outputs", "outputs takes a mapping"),
    (f"triggers: [{{id: t}}]\nsteps:\n  - {W}\n", "triggers[0]", "a trigger is a schedule"),
    (f"triggers: [{{id: t, schedule: '0 2 * * *', timezone: 5}}]\nsteps:\n  - {W}\n", "triggers[0].timezone",
     "timezone takes text, not a number"),
    (f"triggers: 5\nsteps:\n  - {W}\n", "triggers", "triggers takes a list of schedules and webhooks"),
]


@pytest.mark.parametrize("body, path, words", CASES)
def test_each_construct_says_its_problem_in_plain_words(body, path, words):
    issues = found("version: 1\nname: a\n" + body)
    assert any(p == path and words in m for p, m in issues), issues
    assert not [m for _, m in issues if any(raw in m for raw in RAW)], issues


def test_a_trigger_of_one_kind_gets_only_that_kinds_errors_without_class_names():
    issues = found(f"version: 1\nname: a\ntriggers: [{{id: t, webhook: {{rate: -1}}}}]\nsteps:\n  - {W}\n")
    assert issues == [("triggers[0].webhook", "webhook must be true, not {'rate': -1}")]


@pytest.mark.parametrize("err, words", [
    ({"type": "greater_than", "loc": ("rate",), "input": 0, "ctx": {"gt": 0}}, "rate must be more than 0, not 0"),
    ({"type": "less_than", "loc": ("x",), "input": 5, "ctx": {"lt": 5}}, "x must be less than 5, not 5"),
    ({"type": "string_too_long", "loc": ("name",), "input": "a" * 200, "ctx": {"max_length": 100}},
     "name takes at most 100 characters"),
    ({"type": "too_long", "loc": ("triggers",), "input": [], "ctx": {"max_length": 50, "actual_length": 51}},
     "triggers takes at most 50 items, not 51"),
    ({"type": "too_short", "loc": ("items",), "input": [], "ctx": {"min_length": 2}}, "items needs at least 2 items"),
    ({"type": "float_parsing", "loc": ("backoff",), "input": "x"}, "backoff takes a number, not 'x'"),
    ({"type": "bool_type", "loc": ("on",), "input": []}, "on takes true or false, not a list"),
    ({"type": "finite_number", "loc": ("rate",), "input": float("inf")}, "rate takes a finite number"),
    ({"type": "missing", "loc": ("repeat", "until"), "input": {}}, "missing required key 'until'"),
    ({"type": "value_error", "loc": ("x",), "msg": "Value error, our own words"}, "our own words"),
])
def test_the_common_pydantic_error_types_each_get_a_sentence(err, words):
    said = plain(err)
    assert words in said
    assert not any(raw in said for raw in RAW)
