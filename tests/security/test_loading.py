"""Loading hostile text: every input ends as WorkflowInvalid naming the place, never a crash.

Each case here crashed the loader (RecursionError, ValueError: an HTTP 500 through
``POST /api/validate``), let through a value no store can hold, or took memory quadratic in
the number of steps (10 000 steps: 2.4 GB).
"""

import json
import subprocess
import sys
import textwrap

import pytest

import engine
from engine import Budgets, EngineSettings


def issues_of(text: str, **kwargs) -> list[engine.Issue]:
    with pytest.raises(engine.WorkflowInvalid) as info:
        engine.load(text, "hostile.yaml", **kwargs)
    return info.value.issues


def only(text: str, **kwargs) -> engine.Issue:
    found = issues_of(text, **kwargs)
    assert len(found) == 1, [i.format() for i in found]
    return found[0]


def step(with_: str = "{seconds: 0}", extra: str = "") -> str:
    return f"name: x\nsteps:\n  - id: a\n    uses: wait\n{extra}    with: {with_}\n"


BIG = "9" * 5000


# -- numbers no store can hold -------------------------------------------------------------------
@pytest.mark.parametrize("text, path, line", [
    (step("{seconds: 0, value: %s}" % BIG), "steps[0].with.value", 5),
    (step("{seconds: 0, value: -%s}" % BIG), "steps[0].with.value", 5),
    (step("{seconds: 0, value: !!int '%s'}" % BIG), "steps[0].with.value", 5),
    (step("{seconds: 0, value: 0b%s}" % ("1" * 10_000)), "steps[0].with.value", 5),  # no digit limit
    (step("{seconds: 0, value: [1, [2, %s]]}" % BIG), "steps[0].with.value[1][1]", 5),
    (step(extra=f"    timeout: {BIG}\n"), "steps[0].timeout", 5),
    (f"name: x\nlimits: {{concurrency: {BIG}}}\nsteps: []\n", "limits.concurrency", 2),
    (f"name: x\ninputs: {{n: {{type: integer, default: {BIG}}}}}\nsteps: []\n", "inputs.n.default", 2),
    (step("{seconds: 0, value: {%s: 1}}" % BIG), "steps[0].with.value", 5),  # as a key
])
def test_a_5000_digit_integer_is_refused_where_it_is(text, path, line):
    found = only(text)
    assert (found.path, found.line) == (path, line)
    assert "out of range (integers are 64-bit" in found.message
    assert len(found.message) < 200  # the number is not echoed back whole


def test_integers_are_64_bit():
    assert engine.load(step("{seconds: 0, value: [%d, %d]}" % (2**63 - 1, -(2**63))))
    for value in (2**63, -(2**63) - 1, 10**30):
        found = only(step("{seconds: 0, value: %d}" % value))
        assert found.path == "steps[0].with.value" and "out of range" in found.message


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN", "1.0e+400", "!!float nan"])
def test_nan_and_infinity_are_refused_where_they_are(value):
    found = only(step("{seconds: %s}" % value))
    assert (found.line, found.column, found.path) == (5, 21, "steps[0].with.seconds")
    assert "not a finite number" in found.message


def test_a_file_of_bad_numbers_lists_a_thousand():
    found = issues_of(step("[%s]" % ", ".join([".nan"] * 5000)))
    assert len(found) == 1001 and found[-1].message == "… and 4,000 more problems"


def test_every_bad_number_is_reported_at_once():
    found = issues_of(step("{seconds: .nan, value: [%s, .inf]}" % BIG, extra="    timeout: -.inf\n"))
    assert [i.path for i in found] == ["steps[0].timeout", "steps[0].with.seconds",
                                       "steps[0].with.value[0]", "steps[0].with.value[1]"]


def test_durations_are_at_most_a_year_and_backoff_cannot_overflow():
    found = only(step(extra="    timeout: 9999999999999999h\n"))
    assert found.path == "steps[0].timeout" and "at most a year" in found.message
    # 1e300 ** attempts overflowed a float when the retry delay was computed, mid-run
    found = only(step(extra="    retry: {attempts: 5, backoff: '1e300'}\n"))
    assert found.path == "steps[0].retry.backoff"


# -- expressions and needs deep or long enough to exhaust the stack -----------------------------
@pytest.mark.parametrize("expression", [
    "-" * 3000 + "1",
    "not " * 900 + "true",
    "(" * 150 + "1" + ")" * 150,
    "[" * 300 + "]" * 300,
    "a" + ".b" * 1500,
    "1" + " + 1" * 900,
    "x" + "[0]" * 1200,
])
def test_a_deeply_nested_expression_is_an_issue_at_its_place(expression):
    text = step('{seconds: 0, value: "${%s}"}' % expression)
    found = only(text)
    assert (found.line, found.path) == (5, "steps[0].with.value")
    assert "expression" in found.message or "nested" in found.message
    for where in ("if", "foreach"):  # and the same in if: and foreach:
        text = ("name: x\nsteps:\n  - id: a\n    foreach: [1]\n    if: ${%s}\n    steps: [{id: b, uses: wait, with: {seconds: 0}}]\n"
                % expression).replace("foreach: [1]", "foreach: ${%s}" % expression if where == "foreach" else "foreach: [1]")
        assert {i.path for i in issues_of(text)} >= {f"steps[0].{where}"}


def test_a_3000_long_needs_cycle_is_one_short_issue():
    n = 3000
    steps = [{"id": f"s{i}", "needs": [f"s{(i + 1) % n}"], "uses": "wait", "with": {"seconds": 0}} for i in range(n)]
    found = only(json.dumps({"name": "x", "steps": steps}))
    assert found.path == "steps[0].needs"
    assert found.message == "needs cycle: s0 → s1 → s2 → s3 → s4 → … → s2998 → s2999 → s0 (3000 steps)"


def test_a_3000_long_chain_of_needs_on_later_steps_names_the_first_thousand():
    n = 3000
    steps = [{"id": f"s{i}", "needs": [f"s{i + 1}"] if i < n - 1 else [], "uses": "wait", "with": {"seconds": 0}}
             for i in range(n)]
    found = issues_of(json.dumps({"name": "x", "steps": steps}))
    assert found[0].path == "steps[0].needs[0]" and "'s1' comes after 's0'" in found[0].message
    assert len(found) == 1001 and found[-1].path == "steps[1000].needs[0]"
    assert found[-1].message == "… and 1,999 more problems"


def test_a_3000_long_needs_chain_inside_a_group_is_valid_and_plans():
    n = 3000
    inner = [{"id": f"s{i}", "needs": [f"s{i - 1}"] if i else [], "uses": "wait",
              "with": {"seconds": 0, "value": f"${{s{i - 1}}}" if i else 0}} for i in range(n)]
    text = json.dumps({"name": "x", "steps": [{"id": "g", "steps": inner},
                                              {"id": "last", "uses": "wait", "with": {"seconds": 0, "value": "${s2999}"}}]})
    plan = engine.plan(engine.load(text))
    assert plan.nodes[0].children[-1].deps == (n - 2,)


# -- anything else unexpected -------------------------------------------------------------------
class Exploding(engine.Action):
    """An action whose static check has a bug: it raises on some input."""

    name = "exploding"

    def check(self, raw, settings):
        if raw.get("boom"):
            raise RuntimeError("a bug in a check")
        return []


def test_an_unexpected_error_checking_one_step_is_an_issue_at_that_step():
    registry = engine.default_registry()
    registry.register(Exploding())
    text = ("name: x\nsteps:\n  - {id: a, uses: exploding, with: {boom: true}}\n"
            "  - {id: b, uses: exploding, with: {}}\n  - {id: c, uses: wiat}\n")
    found = issues_of(text, registry=registry)
    assert [(i.path, i.message) for i in found] == [
        ("steps[0]", "could not be checked (RuntimeError: a bug in a check)"),
        ("steps[2].uses", "unknown action 'wiat' (did you mean 'wait'?)"),
    ]


@pytest.mark.parametrize("text, path", [
    ("~: 1\nname: x\nsteps: []\n", "None"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0, ~: 1, true: 2, 3: 4}}\n", "steps[0].with.None"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0}, ? [1, 2] : x}\n", "steps[0]"),
    ("name: x\nsteps:\n  - {id: '%s', uses: wait, with: {seconds: 0}}\n" % ("x-" * 50_000), "steps[0].id"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: '%s'}}\n" % ("9" * 50_000), "steps[0].with.seconds"),
])
def test_odd_keys_and_huge_values_are_issues(text, path):
    found = issues_of(text)
    assert path in [i.path for i in found]
    assert all(len(i.message) < 300 for i in found)


# -- static budgets: what a run would certainly spend is refused at the door -------------------------
def test_a_literal_foreach_list_over_the_item_budget_is_refused_at_load():
    settings = EngineSettings(budgets=Budgets(items_per_block=5))
    text = "name: x\nsteps:\n  - {id: each, foreach: [1, 2, 3, 4, 5, 6], steps: [{id: w, uses: wait, with: {seconds: 0}}]}\n"
    found = only(text, settings=settings)
    assert found.path == "steps[0].foreach"
    assert found.message == "6 items is more than a foreach may have (5, the WORKFLOW_MAX_ITEMS setting)"
    assert engine.load(text.replace(", 6]", "]"), settings=settings)


def test_nested_literal_lists_that_multiply_past_the_run_budgets_are_refused_at_load():
    ten = "[" + ", ".join(["0"] * 10) + "]"
    text = textwrap.dedent(f"""\
        name: x
        steps:
          - id: a
            foreach: {ten}
            steps:
              - id: b
                foreach: {ten}
                steps:
                  - id: c
                    foreach: {ten}
                    steps: [{{id: w, uses: wait, with: {{seconds: 0}}}}]
        """)
    found = issues_of(text, settings=EngineSettings(budgets=Budgets(items_per_run=1000, steps=999)))
    assert [(i.path, i.message) for i in found] == [
        ("steps[0].steps[0].steps[0]", "with this step a run would start at least 1,110 foreach items, more than "
                                       "its budget of 1,000 (the WORKFLOW_MAX_RUN_ITEMS setting)"),
        ("steps[0].steps[0].steps[0].steps[0]", "with this step a run would start at least 1,000 action steps, "
                                                "more than its budget of 999 (the WORKFLOW_MAX_STEPS setting)"),
    ]
    # an expression's list is only known at run time: the budget is checked then
    assert engine.load(text.replace(ten, "${[1]}", 1), settings=EngineSettings(budgets=Budgets(items_per_run=1000)))


# -- size: memory linear in the number of steps ------------------------------------------------
PEAK = """
import json, resource, sys
sys.path.insert(0, sys.argv[1])
import engine
n = 10_000
lines = ["name: big", "steps:", "  - {id: s0, uses: wait, with: {seconds: 0}}"]
for i in range(1, n):  # a sequence, a needs chain and a foreach body, each reading earlier steps
    need = f"needs: [s{i - 1}], " if i % 3 == 0 else ""
    lines.append(f"  - {{id: s{i}, {need}uses: wait, with: {{seconds: 0, value: '${{s{i - 1}}} ${{s0}}'}}}}")
body = [f"{{id: f{i}, uses: wait, with: {{seconds: 0, value: '${{item}} ${{f{i - 1}}} ${{s9999}}'}}}}"
        for i in range(1, 1000)]
lines.append("  - {id: f, foreach: [1, 2], steps: [{id: f0, uses: wait, with: {seconds: 0}}, " + ", ".join(body) + "]}")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
plan = engine.plan(engine.load("\\n".join(lines) + "\\n"))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"steps": len(plan.step_ids), "grew_mb": (peak - base) / 1024}))
"""


def test_validating_11000_steps_takes_memory_linear_in_them():
    """Before, the set of visible ids was copied per step: 10 000 steps took 2.4 GB."""
    root = __file__.rsplit("/tests/", 1)[0]
    out = subprocess.run([sys.executable, "-c", PEAK, root], capture_output=True, text=True, check=True)
    figures = json.loads(out.stdout)
    assert figures["steps"] == 11_001
    assert figures["grew_mb"] < 200, figures  # 45 MB today; 2 765 MB before


# -- through the API ------------------------------------------------------------------------------
def _cycle(n: int) -> str:
    return json.dumps({"name": "x", "steps": [{"id": f"s{i}", "needs": [f"s{(i + 1) % n}"], "uses": "wait",
                                               "with": {"seconds": 0}} for i in range(n)]})


HOSTILE = {
    "deep expression": (step('{seconds: 0, value: "${%s1}"}' % ("-" * 3000)), "steps[0].with.value"),
    "5000-digit integer": (step("{seconds: 0, value: %s}" % BIG), "steps[0].with.value"),
    "5000-digit key": (step("{seconds: 0, value: {%s: 1}}" % BIG), "steps[0].with.value"),
    "nan": (step("{seconds: .nan}"), "steps[0].with.seconds"),
    "3000-long needs cycle": (_cycle(3000), "steps[0].needs"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_validate_endpoint_answers_issues_never_500(alice_client, name):
    text, path = HOSTILE[name]
    response = alice_client.post("/api/validate", data=json.dumps({"yaml": text}), content_type="application/json")
    assert response.status_code in (200, 422), response.content[:500]
    body = response.json()
    assert body["valid"] is False
    assert path in [e["path"] for e in body["errors"]]
    assert all(e["line"] >= 1 and e["column"] >= 1 for e in body["errors"])


@pytest.mark.django_db
def test_validate_endpoint_refuses_a_literal_foreach_past_the_item_setting(alice_client, settings):
    settings.WORKFLOW_MAX_ITEMS = 5
    text = "name: x\nsteps:\n  - {id: each, foreach: [1, 2, 3, 4, 5, 6], steps: [{id: w, uses: wait, with: {seconds: 0}}]}\n"
    response = alice_client.post("/api/validate", data=json.dumps({"yaml": text}), content_type="application/json")
    assert response.status_code == 200
    assert response.json()["errors"] == [{"line": 3, "column": 16, "path": "steps[0].foreach", "step_path": "each",
                                          "message": "6 items is more than a foreach may have (5, the "
                                                     "WORKFLOW_MAX_ITEMS setting)"}]
