"""The shortcuts that make loading fast give the answers of the long way: the collector paused
during a load and restored after, Plan.describe built once, plain scalars read without the
constructor, and one walk checking an expression and finding its references."""

import gc
import threading

import pytest
import yaml

import engine
from engine import ExpressionError, WorkflowInvalid
from engine.expressions import references
from engine.loader import collector_paused
from engine.source import parse

VALID = "name: x\nsteps:\n  - id: a\n    uses: wait\n    with: {seconds: 0}\n"


@pytest.fixture
def collector():
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_on_again_after_a_load_that_passes_or_fails(collector):
    engine.plan(engine.load(VALID))
    assert gc.isenabled()
    with pytest.raises(WorkflowInvalid):
        engine.load("name: x\nsteps: [{id: a}]\n")
    assert gc.isenabled()
    with pytest.raises(WorkflowInvalid):
        engine.load("a: [")
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_host_stays_off(collector):
    gc.disable()
    engine.plan(engine.load(VALID))
    assert not gc.isenabled()


def test_the_collector_is_off_during_a_load_and_nested_pauses_count(collector):
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still runs
    assert gc.isenabled()


def test_overlapping_loads_in_threads_leave_the_collector_on(collector):
    inside, release = threading.Event(), threading.Event()

    def slow():
        with collector_paused():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=slow)
    thread.start()
    inside.wait(10)
    engine.load(VALID)  # begins and ends while the other thread's pause runs
    assert not gc.isenabled()
    release.set()
    thread.join(10)
    assert gc.isenabled()


def test_an_exception_inside_a_pause_restores_the_collector(collector):
    with pytest.raises(RuntimeError):
        with collector_paused():
            raise RuntimeError("boom")
    assert gc.isenabled()


def test_describe_is_built_once_and_equals_a_fresh_build():
    text = ("name: x\nsteps:\n  - id: a\n    uses: wait\n    with: {seconds: 0}\n"
            "  - id: b\n    parallel:\n      - {id: c, uses: wait, with: {seconds: 0}}\n"
            "finally:\n  - {id: d, uses: wait, with: {seconds: 0}}\n")
    plan = engine.plan(engine.load(text))
    first = plan.describe()
    assert plan.describe() is first
    assert first == engine.plan(engine.load(text)).describe()
    assert [e["id"] for e in first] == ["a", "b", "d"] and first[-1]["hook"] == "finally"


@pytest.mark.parametrize("text", ["0", "-0", "+0", "7", "-12", "+12", "010", "0o17", "0x1F", "0b101", "1_000", "1:30",
                                  "123456789012345678", "999999999999999999", "9223372036854775807",
                                  "-9223372036854775808", "!!int 12", "!!int '12'", "!!int 0012", "12 ", "1.5",
                                  "true", "No", "~", "null", "2025-01-01", "'12'", "\"0\"", "needs", "timeout", "on"])
def test_scalars_read_without_the_constructor_are_what_yaml_reads(text):
    expected = yaml.load(f"a: {text}\n", Loader=yaml.SafeLoader)["a"]
    if hasattr(expected, "isoformat"):
        expected = expected.isoformat()  # timestamps stay text
    assert parse(f"a: {text}\n").data["a"] == expected
    assert type(parse(f"a: {text}\n").data["a"]) is type(expected)


@pytest.mark.parametrize("text", ["9223372036854775808", "-9223372036854775809", "1" * 101])
def test_integers_out_of_range_are_refused_at_their_place(text):
    with pytest.raises(WorkflowInvalid) as info:
        parse(f"x: 1\na: {text}\n")
    issue = info.value.issues[0]
    assert (issue.line, issue.column, issue.path) == (2, 4, "a") and "out of range" in issue.message


def test_a_tag_resolved_once_is_resolved_the_same_for_keys_and_values():
    doc = parse("true: true\nlist: [true, 'true', 1, 1, needs, needs]\n1: x\n")
    assert doc.data == {"True": True, "list": [True, "true", 1, 1, "needs", "needs"], "1": "x"}
    assert doc.typed_keys == {("True",): ("true", "boolean"), ("1",): ("1", "number")}


@pytest.mark.parametrize("source, message", [
    ("[i for i in x] + _a", "ListComp is not allowed in expressions"),  # breadth first: the left operand first
    ("_a + [i for i in x]", "unknown name '_a'"),
    ("f(x) + _a", "unknown function 'f'"),
    ("x._y.a + lower(1, 2)", "lower() takes 1 argument, got 2"),  # the call is nearer the top than ._y
    ("[" * 99 + "[i for i in x]" + "]" * 99, "nests more than 100 levels"),  # nesting is checked first
    ("len(x=" + "[" * 99 + "1" + "]" * 99 + ")", "nests more than 100 levels"),
    ("10 ** 400 + 1" * 1, None),
])
def test_the_first_problem_found_is_the_one_a_breadth_first_walk_meets(source, message):
    if message is None:
        assert references(source) == []
        return
    with pytest.raises(ExpressionError) as info:
        references(source)
    assert message in info.value.message


def test_references_carry_their_static_keys_and_skip_called_names():
    assert references("len(a.b[0]['c']) + x[y].z + default(m.n, 0)") == [  # breadth first
        ("m", ("n",)), ("x", ()), ("y", ()), ("a", ("b", 0, "c"))]


def test_positions_far_along_one_line_are_exact():
    text = "[" + "1," * 150_000 + "{a: 1, b: 2}]"
    doc = parse(text)
    assert doc.positions[(150_000,)] == (1, 300_002)
    assert doc.positions[(150_000, "b")] == (1, 300_009) and doc.values[(150_000, "b")] == (1, 300_012)
    with pytest.raises(WorkflowInvalid) as info:
        parse("\n" * 70_000 + text.replace("b: 2", "a: 2"))
    issue = info.value.issues[0]
    assert (issue.line, issue.column, issue.message) == (70_001, 300_009, "duplicate key 'a'")


@pytest.mark.parametrize("source", ["a", " fetch.rows ", "loop.index", "a.b.c.d", "match.case", "x1.y_2",
                                    ".".join(["a"] * 21), ".".join(["a"] * 22), "true.x", "a.if", "None",
                                    "_a.b", "a._b", "a .b", "é.x", "a" * 4001])
def test_a_plain_dotted_reference_read_off_the_text_is_what_the_parse_finds(source):
    from engine.expr_parse import dotted_reference, parse_expression

    fast = dotted_reference(source)
    try:
        parsed = list(parse_expression(source)[1])
    except ExpressionError:
        assert fast is None  # every problem is left to the parse
        return
    assert fast is None or fast == parsed
    assert references(source) == parsed


def test_a_loaded_workflow_keeps_only_the_positions_of_its_inputs():
    workflow = engine.load("name: x\ninputs:\n  a: {type: integer}\n  b: string\n"
                           "steps:\n  - id: s\n    uses: wait\n    with: {seconds: 0}\n")
    kept = workflow._source
    assert kept.position(("inputs", "a")) == (3, 3) and kept.position(("inputs", "b")) == (4, 3)
    assert kept.position(("inputs", "nope")) == (2, 1)
    assert kept.data is None and len(kept.positions) == 4  # the document itself is gone
    assert workflow.steps[0].position == (6, 5)
