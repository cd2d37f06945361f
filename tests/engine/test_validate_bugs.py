"""Validator bugs, each pinned by a test that failed before its fix."""

import engine
from tests.engine.helpers import SETTINGS


def issues(text: str, **kwargs) -> list:
    return engine.validate(text, "wf.yaml", settings=SETTINGS, **kwargs)


def messages(text: str, **kwargs) -> list[str]:
    return [i.format("wf.yaml") for i in issues(text, **kwargs)]


# 1. a schema error in a step hid that step's reference errors ------------------------------
def test_a_step_with_a_schema_error_still_has_its_expressions_checked():
    text = """
name: x
steps:
  - {id: a, uses: wait, bogus: 1, if: "${nope_if}", with: {seconds: soon, value: "${nope}"}}
  - {id: b, uses: wait, with: {seconds: 0, value: "${a}"}}
"""
    found = messages(text)
    assert any("unknown key 'bogus'" in m for m in found), found
    assert any("steps[0].with.value" in m and "unknown reference 'nope'" in m for m in found), found
    assert any("steps[0].if" in m and "unknown reference 'nope_if'" in m for m in found), found
    assert any("steps[0].with.seconds" in m and "invalid duration 'soon'" in m for m in found), found
    assert len(found) == 4, found  # ${a} in b: a is broken, so no follow-on error


def test_the_steps_inside_a_broken_block_are_still_checked_where_they_stand():
    text = """
name: x
steps:
  - {id: first, uses: wait, with: {seconds: 0}}
  - id: g
    concurrency: 2
    steps:
      - {id: inner, uses: wait, with: {seconds: 0, value: "${first} ${fist}"}}
      - {id: later, uses: wait, with: {seconds: 0, value: "${inner} ${after}"}}
  - {id: after, uses: wait, with: {seconds: 0}}
"""
    found = [(i.path, i.message.split(" (")[0]) for i in issues(text)]
    assert found == [("steps[1].concurrency", "unknown key 'concurrency'"),
                     ("steps[1].steps[0].with.value", "unknown reference 'fist'"),
                     ("steps[1].steps[1].with.value", "step 'after' may not have run yet here: reference only steps "
                                                      "that finish before this one")], found


def test_a_broken_workflow_level_key_does_not_hide_the_steps_errors():
    text = "name: Not A Slug\nsteps:\n  - {id: a, uses: wait, with: {seconds: 0, value: '${nope}'}}\n"
    found = messages(text)
    assert any("invalid name" in m for m in found) and any("unknown reference 'nope'" in m for m in found), found


# 2. unknown `with` parameters got no did-you-mean --------------------------------------------
def test_an_unknown_parameter_gets_a_suggestion():
    found = messages("name: x\nsteps:\n  - {id: a, uses: http, with: {ulr: 'https://example.org'}}\n")
    assert any("unknown parameter 'ulr' (did you mean 'url'?)" in m for m in found), found


def test_an_unknown_parameter_without_a_near_miss_lists_the_parameters():
    found = messages("name: x\nsteps:\n  - {id: a, uses: wait, with: {seconds: 1, zzzz: 2}}\n")
    assert any("unknown parameter 'zzzz' (parameters: seconds, value)" in m for m in found), found


# 3. a literal mapping in a union field gave raw pydantic text ------------------------------
def test_a_mapping_in_foreach_gets_one_clear_message():
    found = messages("name: x\nsteps:\n  - {id: f, foreach: {a: 1}, steps: [{id: a, uses: wait, with: {seconds: 1}}]}\n")
    assert len(found) == 1, found
    assert found[0].endswith("foreach takes a list or an expression like ${step.items}, got a mapping"), found


def test_other_union_fields_get_one_clear_message():
    found = messages("name: x\nsteps:\n  - {id: s, switch: [1], cases: {a: [{id: a, uses: wait, with: {seconds: 1}}]}}\n")
    assert len(found) == 1 and "switch takes an expression like ${step.kind} (or text, a number or a boolean), " \
                               "got a list" in found[0], found
    found = messages("name: x\nsteps:\n  - {id: s, if: {a: 1}, uses: wait, with: {seconds: 1}}\n")
    assert len(found) == 1 and "if takes an expression like ${step.ok} or true/false, got a mapping" in found[0]


# 4. a workflow step naming a missing workflow passed validation ----------------------------
CALL = "name: x\nsteps:\n  - {id: call, uses: workflow, with: {name: sales-reprot}}\n"


def test_a_workflow_step_naming_a_missing_workflow_is_refused_with_a_suggestion():
    found = issues(CALL, workflows={"sales-report", "batch"})
    assert [(i.path, i.message) for i in found] == [
        ("steps[0].with.name", "no workflow named 'sales-reprot' (did you mean 'sales-report'?)")]
    assert issues(CALL) == []  # unknown names: not checked
    assert issues(CALL, workflows=["sales-reprot"]) == []


# 5. error paths showed YAML indexes only ---------------------------------------------------
def test_an_issue_names_the_step_path_beside_the_yaml_path():
    text = """
name: x
steps:
  - {id: fetch, uses: wait, with: {seconds: 0}}
  - id: analyses
    parallel:
      - {id: by_region, uses: wait, with: {seconds: 0, value: "${fetchh}"}}
"""
    [found] = issues(text)
    assert found.path == "steps[1].parallel[0].with.value" and found.step_path == "analyses.by_region"
    assert found.format("wf.yaml") == ("wf.yaml:7:63: steps[1].parallel[0].with.value (step analyses.by_region): "
                                       "unknown reference 'fetchh' (did you mean 'fetch'?)")
    assert found.as_dict() == {"line": 7, "column": 63, "path": "steps[1].parallel[0].with.value",
                               "step_path": "analyses.by_region",
                               "message": "unknown reference 'fetchh' (did you mean 'fetch'?)"}


def test_step_paths_read_like_the_monitors():
    text = """
name: x
steps:
  - id: each
    foreach: [1]
    steps:
      - id: book
        uses: wait
        with: {seconds: 0}
        compensate:
          - {id: undo, uses: wait, with: {seconds: 0, value: "${nope1}"}}
    on_failure:
      - {id: alert, uses: wait, with: {seconds: 0, value: "${nope2}"}}
  - id: route
    switch: a
    cases:
      a: [{id: pick, uses: wait, with: {seconds: 0, value: "${nope3}"}}]
  - id: poll
    repeat: {until: "${check}", max: 3}
    steps: [{id: check, uses: wait, with: {seconds: 0, value: "${nope4}"}}]
finally:
  - {id: bye, uses: wait, with: {seconds: 0, value: "${nope5}"}}
"""
    paths = {i.message.split("'")[1]: i.step_path for i in issues(text)}
    assert paths == {"nope1": "each[*].book.compensate.undo", "nope2": "each.alert", "nope3": "route.pick",
                     "nope4": "poll[*].check", "nope5": "bye"}


def test_a_workflow_level_issue_has_no_step_path():
    [found] = issues("name: x\ninputs: {n: {type: integer, default: x}}\nsteps: []\n")
    assert found.step_path == "" and found.format("wf.yaml") == \
        "wf.yaml:2:29: inputs.n.default: default of input 'n' is not of type integer"
