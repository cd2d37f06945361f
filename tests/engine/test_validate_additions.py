"""Validation of the additions: switch, repeat, on_failure/finally, compensation and rollback,
approval, and their run-time paths and budgets (docs/format.md, "Validation rules of the
additions")."""

import dataclasses
import time

import pytest

import engine
from tests.engine.helpers import SETTINGS

W = "{uses: wait, with: {seconds: 0}}"


def found(text: str, settings=SETTINGS, **kwargs) -> list[tuple[str, str]]:
    """(path, message) of each issue."""
    return [(i.path, i.message) for i in engine.validate(text, "wf.yaml", settings=settings, **kwargs)]


def step(id_: str, value: str = "") -> str:
    extra = f", value: \"{value}\"" if value else ""
    return f"{{id: {id_}, uses: wait, with: {{seconds: 0{extra}}}}}"


# -- switch ------------------------------------------------------------------------------------
def test_a_case_reads_the_steps_before_the_switch_and_before_it_in_the_case_and_after_reads_the_switch():
    text = f"""
name: x
steps:
  - {step("classify")}
  - id: route
    switch: ${{classify.kind}}
    cases:
      invoice:
        - {step("book", "${classify}")}
        - {step("check", "${book}")}
      receipt: [{step("file_it", "${classify}")}]
    default: [{step("ask", "${classify.kind}")}]
  - {step("after", "${route}")}
"""
    assert found(text) == []


def test_steps_inside_a_case_are_not_visible_outside_it():
    text = f"""
name: x
steps:
  - id: route
    switch: a
    cases:
      invoice: [{step("book")}]
      receipt: [{step("file_it", "${book}")}]
    default: [{step("ask")}]
  - {step("after", "${book} ${ask}")}
"""
    assert found(text) == [
        ("steps[0].cases.receipt[0].with.value", "'book' is inside case 'invoice' of switch 'route' and is not "
                                                 "visible outside it; use ${route} for the chosen case's output"),
        ("steps[1].with.value", "'ask' is inside the default of switch 'route' and is not visible outside it; "
                                "use ${route} for the chosen case's output"),
        ("steps[1].with.value", "'book' is inside case 'invoice' of switch 'route' and is not visible outside it; "
                                "use ${route} for the chosen case's output"),
    ]


def test_case_names_written_as_numbers_or_booleans_must_be_quoted():
    text = f"""
name: x
steps:
  - id: route
    switch: ${{inputs.n}}
    cases:
      1: [{step("one")}]
      true: [{step("affirmative")}]
      ~: [{step("nothing")}]
      "2": [{step("two")}]
inputs: {{n: integer}}
"""
    assert found(text) == [
        ("steps[0].cases.1", "case 1 is a number in YAML, not text: quote it ('1'); a case is named by the text "
                             "of the value (true, false, null, 3, 2.5, invoice)"),
        ("steps[0].cases.True", "case true is a boolean in YAML, not text: quote it ('true'); a case is named by "
                                "the text of the value (true, false, null, 3, 2.5, invoice)"),
        ("steps[0].cases.None", "case ~ is a null in YAML, not text: quote it ('~'); a case is named by the text "
                                "of the value (true, false, null, 3, 2.5, invoice)"),
    ]


def test_an_empty_case_needs_a_default_and_a_switch_needs_a_case():
    text = f"""
name: x
steps:
  - {{id: s1, switch: a, cases: {{a: [], b: [{step("b1")}]}}}}
  - {{id: s2, switch: a, cases: {{a: []}}, default: [{step("d")}]}}
  - {{id: s3, switch: a, cases: {{}}}}
"""
    assert found(text) == [
        ("steps[0].cases.a", "case 'a' is empty: an empty case needs a default beside it (without one, an "
                             "unmatched value skips the switch just the same); add steps or a default"),
        ("steps[2].cases", "a switch needs at least one case"),
    ]


def test_the_switch_expression_is_checked_and_a_duplicate_case_is_refused_by_the_parser():
    assert found(f"name: x\nsteps:\n  - {step('kind')}\n  - {{id: r, switch: '${{knid}}', cases: {{a: [{step('a')}]}}}}\n") \
        == [("steps[1].switch", "unknown reference 'knid' (did you mean 'kind'?)")]
    dup = f"name: x\nsteps:\n  - {{id: r, switch: a, cases: {{1: [{step('a')}], '1': [{step('b')}]}}}}\n"
    assert found(dup) == [("steps[0].cases.1", "duplicate key '1'")]


# -- repeat ------------------------------------------------------------------------------------
def test_repeat_gives_loop_inside_until_reads_the_pass_and_the_steps_are_visible_after():
    text = f"""
name: x
steps:
  - {step("start")}
  - id: poll
    repeat: {{until: "${{check == 'done' or loop.index >= 3}}", max: 30, delay: 1s}}
    steps:
      - {step("check", "${loop.index} ${start}")}
      - {step("second", "${check}")}
  - {step("after", "${check} ${second} ${poll}")}
"""
    assert found(text) == []


def test_repeat_rules():
    text = f"""
name: x
steps:
  - {{id: a, repeat: {{until: "${{nope}}", max: 3}}, steps: [{step("a1")}]}}
  - {{id: b, repeat: {{until: "${{b1}}"}}, steps: [{step("b1")}]}}
  - {{id: c, repeat: {{until: "${{c1}}", max: 10001}}, steps: [{step("c1")}]}}
  - {{id: d, foreach: [1], repeat: {{until: x, max: 2}}, steps: [{step("d1")}]}}
  - {{id: e, uses: wait, with: {{seconds: 0}}, repeat: {{until: x, max: 2}}}}
  - {step("f", "${loop.index}")}
"""
    assert found(text) == [
        ("steps[0].repeat.until", "unknown reference 'nope'"),
        ("steps[1].repeat.max", "repeat needs max: the most passes it may run (1 to 10000)"),
        ("steps[2].repeat.max", "repeat's max is a whole number of passes from 1 to 10000, not 10001"),
        ("steps[3].repeat", "repeat goes on a group (a step with steps and no foreach): put one inside the body "
                            "(a group with repeat there)"),
        ("steps[4].repeat", "repeat goes on a group (a step with steps and no foreach): put one around this step"),
        ("steps[5].with.value", "${loop} exists only inside a foreach body or a repeat"),
    ]


# -- on_failure and finally ------------------------------------------------------------------
def test_hooks_read_error_run_every_step_of_their_block_and_what_came_before():
    text = f"""
name: x
steps:
  - {step("first")}
  - id: load
    parallel:
      - {step("a")}
      - {{id: each, foreach: [1, 2], steps: [{step("inner")}]}}
      - {{id: grp, steps: [{step("deep")}]}}
    on_failure:
      - {step("alert", "${error.step}: ${error.message} (${run.status}) ${a} ${inner} ${deep} ${first}")}
      - {step("alert2", "${alert}")}
    finally: [{step("cleanup", "${a} ${run.status}")}]
on_failure: [{step("bye", "${error.message} ${load} ${a} ${inner}")}]
finally: [{step("end", "${run.status} ${first}")}]
"""
    assert found(text) == []


def test_hook_steps_and_hook_names_are_not_visible_elsewhere():
    text = f"""
name: x
steps:
  - id: load
    steps: [{step("a")}]
    on_failure: [{step("alert", "${load}")}]
    finally: [{step("cleanup", "${alert}")}]
  - {step("after", "${alert} ${error} ${run.status}")}
finally: [{step("end", "${cleanup}")}]
"""
    assert found(text) == [
        ("steps[0].on_failure[0].with.value", "'load' is still running while its on_failure and finally run: read "
                                              "its steps instead (${error} says what failed)"),
        ("steps[0].finally[0].with.value", "'alert' is inside the on_failure of block 'load'; steps of on_failure "
                                           "and finally are visible only there"),
        ("steps[1].with.value", "${error} exists only inside on_failure and finally"),
        ("steps[1].with.value", "${run} exists only inside on_failure and finally"),
        ("steps[1].with.value", "'alert' is inside the on_failure of block 'load'; steps of on_failure and "
                                "finally are visible only there"),
        ("finally[0].with.value", "'cleanup' is inside the finally of block 'load'; steps of on_failure and "
                                  "finally are visible only there"),
    ]


def test_a_hook_step_may_not_reuse_an_id():
    text = f"name: x\nsteps:\n  - {step('a')}\nfinally: [{step('a')}]\n"
    assert found(text) == [("finally[0].id", "duplicate id 'a' (first used at line 3)")]


# -- compensation and rollback ---------------------------------------------------------------
def test_a_compensation_reads_the_step_it_undoes_and_what_that_step_could_read():
    text = f"""
name: x
steps:
  - {step("order")}
  - id: bookings
    on_error: rollback
    parallel:
      - id: flight
        uses: wait
        with: {{seconds: 0}}
        compensate: [{step("cancel_flight", "${flight} ${order}")}, {step("log", "${cancel_flight}")}]
      - id: hotel
        uses: wait
        with: {{seconds: 0}}
        compensate: [{step("cancel_hotel", "${hotel} ${flight} ${cancel_flight}")}]
  - {step("after", "${cancel_flight}")}
"""
    assert found(text) == [
        ("steps[1].parallel[1].compensate[0].with.value", "'cancel_flight' is inside the compensate of 'flight'; a "
         "compensation's steps are visible only there (it runs only during a rollback)"),
        ("steps[1].parallel[1].compensate[0].with.value", "step 'flight' may not have run yet here: reference only "
         "steps that finish before this one (earlier in the sequence, in needs, or before the enclosing block)"),
        ("steps[2].with.value", "'cancel_flight' is inside the compensate of 'flight'; a compensation's steps are "
                                "visible only there (it runs only during a rollback)"),
    ]


def test_rollback_rules():
    text = f"""
name: x
on_error: rollback
steps:
  - {{id: a, on_error: rollback, steps: [{step("a1")}], finally: [{{id: a2, uses: wait, with: {{seconds: 0}}, compensate: [{step("a3")}]}}]}}
  - id: b
    on_error: rollback
    foreach: [1]
    steps:
      - {{id: b1, steps: [{{id: b2, uses: wait, with: {{seconds: 0}}, compensate: [{step("b3")}]}}]}}
  - {{id: c, uses: wait, with: {{seconds: 0}}, on_error: rollback}}
  - id: d
    uses: wait
    with: {{seconds: 0}}
    compensate:
      - {{id: d1, uses: wait, with: {{seconds: 0}}, compensate: [{step("d2")}]}}
"""
    assert found(text) == [
        ("steps[0].on_error", "nothing to roll back: add compensate to the steps that can be undone"),
        ("steps[2].on_error", "an action step's on_error is fail or continue; rollback goes on the block around the "
                              "steps that can be undone (parallel, foreach, group or the workflow), with compensate "
                              "on those steps"),
        ("steps[3].compensate[0].compensate", "a compensation's steps cannot have their own compensate: a "
                                              "compensation runs only during a rollback, and nothing rolls it back"),
    ]  # the workflow's rollback has b2 (and d) to undo
    assert found(f"name: x\non_error: rollback\nsteps: [{step('a')}]\n") == [
        ("on_error", "nothing to roll back: add compensate to the steps that can be undone")]


# -- approval ----------------------------------------------------------------------------------
def test_approval_parameters_and_where_it_may_stand():
    text = """
name: x
inputs: {who: string}
steps:
  - id: ask
    uses: approval
    with: {message: "Publish?", approvers: [alice, "bob smith", "${inputs.who}", "c.d@e+f-g_h"], timeout: soon}
  - {id: ask2, uses: approval, with: {approvers: [alice]}}
  - id: grp
    steps: [{id: g1, uses: wait, with: {seconds: 0}, compensate: [{id: g2, uses: approval, with: {message: undo?}}]}]
    on_error: rollback
finally:
  - {id: bye, uses: approval, with: {message: "bye?", timeout: 2d}}
"""
    assert found(text) == [
        ("steps[0].with.approvers[1]", "approver 'bob smith' is not a user name (letters, digits and @ . + - _, "
                                       "at most 150)"),
        ("steps[0].with.timeout", "invalid duration 'soon': use seconds or a string like 10s, 250ms, 2m, 1h, 2d"),
        ("steps[1].with.message", "missing parameter 'message'"),
        ("steps[2].steps[0].compensate[0].uses", "an approval cannot be inside compensate: a rollback cannot "
                                                 "wait for a person (ask before the step instead)"),
        ("finally[0].uses", "an approval cannot be inside on_failure or finally: they run as the block or run "
                            "ends, when nobody can be asked (ask before the block)"),
    ]


# -- run-time paths and budgets ----------------------------------------------------------------
@pytest.mark.parametrize("wrap, extra", [
    ("- id: w\n  repeat: {until: '${true}', max: 10000}\n  steps:\n", len("[9999]")),
    ("- id: w\n  foreach: [1]\n  steps:\n", len("[123456789]") + 1),  # items are known at run time only
    ("- id: w\n  switch: a\n  cases:\n    a:\n", 0),
    ("- id: w\n  uses: wait\n  with: {seconds: 0}\n  compensate:\n", len(".compensate")),
    ("- id: w\n  steps: [{id: x, uses: wait, with: {seconds: 0}}]\n  finally:\n", 0),
])
def test_run_time_paths_count_passes_cases_compensations_and_hooks(wrap, extra):
    text, indent = "name: x\nsteps:\n", "  "
    for n in range(3):  # g...(100).h...(100).i...(100).w: 303 characters
        text += f"{indent}- id: {'ghi'[n] * 100}\n{indent}  steps:\n"
        indent += "    "
    text += "".join(indent + line + "\n" for line in wrap.splitlines())
    text += f"{indent}    - {{id: {'z' * 100}, uses: wait, with: {{seconds: 0}}}}\n"
    issues = [(p, m) for p, m in found(text) if "path would be" in m]
    assert len(issues) == 1 and issues[0][0].endswith("[0].id"), issues
    assert f"about {303 + 1 + extra + 1 + 100} characters" in issues[0][1]


def test_long_paths_through_repeats_and_compensations_are_refused():
    text = "name: x\nsteps:\n"
    indent = "  "
    for n in range(3):  # g[9999].g[9999].g[9999].<id>: 3 × 106 + the id
        level = str(n) * 99
        text += f"{indent}- id: g{level[1:]}\n{indent}  repeat: {{until: '${{true}}', max: 10000}}\n{indent}  steps:\n"
        indent += "    "
    text += f"{indent}- {{id: {'x' * 90}, uses: wait, with: {{seconds: 0}}}}\n"
    assert [m for _, m in found(text) if "budget" not in m] == ["this step's path would be about 408 characters, more than 400: use "
                                           "shorter ids or nest less deeply"]


def budget(**limits):
    return dataclasses.replace(SETTINGS, budgets=engine.Budgets(**limits))


def test_the_budget_counts_the_largest_case_every_repeat_pass_hooks_and_compensations():
    a, b = (", ".join(step(f"{c}{i}") for i in range(3)) for c in "ab")
    switch = f"  - {{id: route, switch: a, cases: {{a: [{a}], b: [{b}]}}}}\n"
    assert found("name: x\nsteps:\n" + switch, budget(steps=3)) == []  # 3, not 6
    poll = f"  - {{id: poll, repeat: {{until: '${{p}}', max: 4}}, steps: [{step('p')}]}}\n"
    assert found("name: x\nsteps:\n" + poll, budget(steps=4)) == []
    assert found("name: x\nsteps:\n" + switch + poll, budget(steps=6)) == [
        ("steps[1].steps[0]", "with this step a run could start up to 7 action steps (counting every repeat pass, "
                              "the largest switch case, on_failure and compensations), more than its budget of 6 "
                              "(the WORKFLOW_MAX_STEPS setting)")]
    undo = f"  - {{id: u, uses: wait, with: {{seconds: 0}}, compensate: [{step('u1')}, {step('u2')}]}}\n"
    hooks = f"on_failure: [{step('h1')}]\nfinally: [{step('h2')}]\n"
    assert [p for p, _ in found("name: x\nsteps:\n" + undo + hooks, budget(steps=3))] == ["on_failure[0]"]
    assert found("name: x\nsteps:\n" + undo + hooks, budget(steps=5)) == []
    each = f"  - {{id: each, foreach: [1, 2, 3], steps: [{step('e', '${item}')}], finally: [{step('f')}]}}\n"
    assert [m[:45] for _, m in found("name: x\nsteps:\n" + each, budget(steps=3))] == [
        "with this step a run would start at least 4 a"]


# -- hostile input -----------------------------------------------------------------------------
def test_large_documents_of_the_new_constructs_are_checked_in_linear_time():
    def doc(n: int) -> str:
        lines = ["name: big", "on_error: rollback", "steps:", f"  - {step('s0')}",
                 "  - id: route", "    switch: a", "    cases:", "      a:"]
        lines += [f"        - {{id: c{i}, uses: wait, with: {{seconds: 0, value: '${{c{max(i - 1, 0)}}}'}}, "
                  f"compensate: [{step(f'u{i}', '${c' + str(i) + '}')}]}}" for i in range(n)]
        lines += ["on_failure:"] + [f"  - {step(f'h{i}', '${h' + str(max(i - 1, 0)) + '} ${route} ${s0}')}"
                                    for i in range(n)]
        return "\n".join(lines) + "\n"

    def timed(n: int) -> float:
        text = doc(n)
        start = time.perf_counter()
        issues = found(text, budget(steps=10 * n))
        elapsed = time.perf_counter() - start
        assert len(issues) == 2, issues[:3]  # c0 and h0 read themselves
        return elapsed

    small, large = timed(500), timed(4000)
    assert large < 8 * small * 2.5, (small, large)  # 8× the steps: far from 64× (quadratic)


def test_nesting_hooks_and_compensations_as_deep_as_the_parser_allows_never_fails_the_loader():
    text, indent = "name: deep\nsteps:\n", "  "
    for i in range(40):
        key = ("on_failure", "compensate", "finally")[i % 3]
        text += f"{indent}- id: s{i}\n{indent}  uses: wait\n{indent}  with: {{seconds: 0}}\n" if key == "compensate" \
            else f"{indent}- id: s{i}\n{indent}  steps: [{step(f'w{i}')}]\n"
        text += f"{indent}  {key}:\n"
        indent += "    "
    text += f"{indent}- {step('leaf', '${error} ${s0}')}\n"
    issues = found(text)
    assert issues and all(isinstance(m, str) for _, m in issues)  # refused (too deep) or checked: never a crash
