"""Validation: every rule of the format, all errors at once, with positions and step paths."""

import pytest

import engine
from tests.engine.helpers import SETTINGS


def problems(text: str) -> list[str]:
    return [i.format("wf.yaml") for i in engine.validate(text, "wf.yaml", settings=SETTINGS)]


def one(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_a_valid_workflow_has_no_problems():
    assert problems("name: ok\nsteps:\n  - {id: a, uses: wait, with: {seconds: 1s}}\n") == []


def test_error_names_file_line_column_and_step_path():
    text = "name: x\nsteps:\n  - id: fetch\n    uses: wait\n    with: {seconds: 0}\n  - id: b\n    parallel:\n" \
           "      - id: c\n        uses: wait\n        with: {seconds: 0, value: '${fetchh.rows}'}\n"
    assert one(text) == ("wf.yaml:10:35: steps[1].parallel[0].with.value (step b.c): "
                         "unknown reference 'fetchh' (did you mean 'fetch'?)")


def test_all_errors_are_reported_at_once():
    text = """
name: x
steps:
  - {id: a, uses: wiat, with: {seconds: 1}}
  - {id: a, uses: wait, with: {seconds: 1}}
  - {id: c, uses: wait, with: {seconds: 1}, bogus: 2}
  - {id: d, uses: merge, with: {values: 3}}
"""
    found = problems(text)
    assert len(found) == 4, found
    assert any("unknown action 'wiat' (did you mean 'wait'?)" in p for p in found)
    assert any("duplicate id 'a' (first used at line 4)" in p for p in found)
    assert any("steps[2].bogus (step c): unknown key 'bogus'" in p for p in found)
    assert any("steps[3].with.values" in p and "list" in p for p in found)


@pytest.mark.parametrize("text, expected", [
    ("steps: []\n", "missing required key 'name'"),
    ("name: Bad Name\nsteps: []\n", "invalid name"),
    ("version: 2\nname: x\nsteps: []\n", "version: version must be 1, not 2"),
    ("- a\n- b\n", "a workflow is a mapping"),
    ("name: x\nsteps: {a: 1}\n", "steps: steps takes a list, not a mapping"),
    ("name: x\nsteps:\n  - {id: a}\n", "a step needs one of: uses, parallel, foreach, steps"),
    ("name: x\nsteps:\n  - {id: a, use: wait}\n", "did you mean 'uses' instead of 'use'?"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, parallel: []}\n", "exactly one of uses, parallel, foreach, steps"),
    ("name: x\nsteps:\n  - {id: 1a, uses: wait, with: {seconds: 1}}\n", "invalid id '1a'"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: soon}}\n", "invalid duration 'soon'"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: 1}, timeout: -1}\n", "negative"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, with: {}}\n", "missing parameter 'seconds'"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: 1, secs: 2}}\n", "unknown parameter 'secs'"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: 1}, on_error: maybe}\n", "on_error"),
    ("name: x\nsteps:\n  - {id: p, parallel: []}\n", "steps[0].parallel (step p): a parallel block needs at least one branch"),
    ("name: x\nsteps:\n  - {id: inputs, uses: wait, with: {seconds: 1}}\n", "'inputs' is a reserved name"),
    ("name: x\ninputs: {n: {type: integer, default: x}}\nsteps: []\n", "default of input 'n' is not of type integer"),
    ("name: x\ninputs: {n: complex}\nsteps: []\n", "inputs.n.type"),
    ("name: x\nlimits: {actions: {wiat: 2}}\nsteps: []\n", "unknown action 'wiat' (did you mean 'wait'?)"),
    ("name: x\nsteps:\n  - {id: a, uses: python, with: {function: 'os:system', args: [ls]}}\n", "not allowed"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: 1, value: '${inputs.nope}'}}\n", "unknown input 'nope'"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: 1, value: '${1 +}'}}\n", "invalid expression"),
    ("name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: 1, value: '${a'}}\n", "without a closing"),
    ("name: x\nsteps:\n  - {id: p, parallel: [{id: a, uses: wait, with: {seconds: 1}}], min_success: 2}\n",
     "only 1 branches"),
    ("name: x\nsteps:\n  - {id: f, foreach: nope, steps: [{id: a, uses: wait, with: {seconds: 1}}]}\n",
     "foreach takes a list"),
])
def test_rule(text, expected):
    found = problems(text)
    assert found and any(expected in p for p in found), found


def test_reference_to_a_later_step_is_refused():
    text = """
name: x
steps:
  - {id: a, uses: wait, with: {seconds: 0, value: "${b}"}}
  - {id: b, uses: wait, with: {seconds: 0}}
"""
    assert "step 'b' may not have run yet here" in one(text)


def test_branches_cannot_read_each_other_but_later_steps_read_all_branches():
    text = """
name: x
steps:
  - id: p
    parallel:
      - {id: a, uses: wait, with: {seconds: 0}}
      - {id: b, uses: wait, with: {seconds: 0, value: "${a}"}}
  - {id: c, uses: merge, with: {values: ["${a}", "${b}", "${p}"]}}
"""
    found = one(text)
    assert "steps[0].parallel[1].with.value" in found and "may not have run yet" in found


def test_foreach_body_ids_are_invisible_outside_the_body():
    text = """
name: x
steps:
  - id: each
    foreach: [1, 2]
    steps:
      - {id: inner, uses: wait, with: {seconds: 0, value: "${item}"}}
      - {id: inner2, uses: wait, with: {seconds: 0, value: "${inner} ${loop.index}"}}
  - {id: after, uses: wait, with: {seconds: 0, value: "${inner}"}}
"""
    found = one(text)
    assert "'inner' is inside the body of foreach 'each'" in found and "${each}" in found


def test_item_name_is_only_visible_in_the_body():
    text = """
name: x
steps:
  - {id: each, foreach: [1], as: row, steps: [{id: a, uses: wait, with: {seconds: 0}}]}
  - {id: b, uses: wait, with: {seconds: 0, value: "${row}"}}
"""
    assert "unknown reference 'row'" in one(text)


def test_needs_may_only_name_earlier_steps_and_cycles_are_reported():
    text = """
name: x
steps:
  - {id: a, needs: [b], uses: wait, with: {seconds: 0}}
  - {id: b, needs: [a], uses: wait, with: {seconds: 0}}
  - {id: c, needs: [d], uses: wait, with: {seconds: 0}}
  - {id: d, needs: [], uses: wait, with: {seconds: 0}}
  - {id: e, needs: [zz], uses: wait, with: {seconds: 0}}
  - {id: f, needs: [f], uses: wait, with: {seconds: 0}}
"""
    found = problems(text)
    assert any("needs cycle: a → b → a" in p for p in found), found
    assert any("'d' comes after 'c'" in p for p in found)
    assert any("unknown step 'zz'" in p for p in found)
    assert any("cannot need itself" in p or "needs cycle: f → f" in p for p in found)


def test_needs_decides_what_a_step_may_reference():
    text = """
name: x
steps:
  - {id: a, needs: [], uses: wait, with: {seconds: 0}}
  - {id: b, needs: [], uses: wait, with: {seconds: 0}}
  - {id: c, needs: [a], uses: wait, with: {seconds: 0, value: "${a} ${b}"}}
"""
    assert "step 'b' may not have run yet here" in one(text)


def test_expression_values_are_not_type_checked_statically():
    text = "name: x\ninputs: {s: {type: number, default: 1}}\nsteps:\n" \
           "  - {id: a, uses: wait, with: {seconds: '${inputs.s}'}}\n"
    assert problems(text) == []


def test_dunder_and_call_tricks_are_validation_errors():
    text = """
name: x
steps:
  - {id: a, uses: wait, with: {seconds: 0, value: "${__import__('os')}"}}
  - {id: b, uses: wait, with: {seconds: 0, value: "${inputs.__class__}"}}
"""
    found = problems(text)
    assert len(found) == 2 and all("invalid expression" in p for p in found)


def test_broken_step_does_not_cause_follow_on_reference_errors():
    text = """
name: x
steps:
  - {id: a, uses: wait, with: {seconds: 0}, extra: 1}
  - {id: b, uses: wait, with: {seconds: 0, value: "${a}"}}
"""
    assert "unknown key 'extra'" in one(text)


def test_load_returns_models_with_positions():
    wf = engine.load("name: x\nsteps:\n  - id: a\n    uses: wait\n    with: {seconds: 2m}\n", settings=SETTINGS)
    step = wf.steps[0]
    assert step.position == (3, 5) and step.yaml_path == ("steps", 0)
    assert step.with_ == {"seconds": "2m"}


def test_ancestor_sets_keep_sequences_as_a_prefix():
    from engine.needs import NONE, adding, has, members, union

    chain = NONE
    for i in range(5):
        chain = adding(chain, i)
    assert chain == (5, 0)  # "every step before 5": no bits at all
    gappy = adding(adding(NONE, 0), 3)
    assert gappy == (1, 0b100) and list(members(gappy)) == [0, 3]
    assert list(members(union(gappy, adding(NONE, 1)))) == [0, 1, 3]
    assert union(gappy, (3, 0)) == (4, 0)
    assert has(gappy, 3) and not has(gappy, 2) and not has(gappy, 40)


def test_a_step_path_too_long_to_store_is_refused_once_where_it_begins():
    text, level = "name: deep\nsteps:\n", ""
    for i in range(6):
        text += f"{level}  - id: g{i}_{'a' * 80}\n{level}    steps:\n"
        level += "    "
    text += f"{level}  - {{id: leaf, uses: wait, with: {{seconds: 0}}}}\n"
    with pytest.raises(engine.WorkflowInvalid) as caught:
        engine.load(text)
    issues = [i for i in caught.value.issues if "path would be" in i.message]
    assert len(issues) == 1 and issues[0].path.endswith("steps[0].steps[0].id") and "more than 400" in issues[0].message
