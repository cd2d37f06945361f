"""Which stored step paths a restart from a step reuses (builder/restart.reuse_pattern), on the
plan alone: exact answers for each construct (a check costs the path's depth, not a regex of
every step before it: 20,000 of them took 4 s)."""

import engine
from builder.restart import reuse_pattern

FLOW = """name: shapes
steps:
  - {id: fetch, uses: wait, with: {seconds: 0}, compensate: [{id: undo, uses: wait, with: {seconds: 0}}]}
  - id: per_file
    foreach: [1, 2]
    steps:
      - {id: get, uses: wait, with: {seconds: 0}}
      - {id: parse, uses: wait, with: {seconds: 0}}
  - id: poll
    repeat: {until: "${loop.index == 3}", max: 5}
    steps:
      - {id: check, uses: wait, with: {seconds: 0}}
      - {id: note, uses: wait, with: {seconds: 0}}
  - {id: last, uses: wait, with: {seconds: 0}}
"""
PLAN = engine.plan(engine.load(FLOW, "shapes.yaml"))


def reused(from_step, paths):
    check = reuse_pattern(PLAN, from_step)
    return [p for p in paths if check(p)]


def test_an_item_reuses_its_own_earlier_steps_not_those_of_items_with_a_longer_index():
    paths = ["fetch", "fetch.compensate.undo", "per_file", "per_file[1].get", "per_file[10].get", "per_file[1].parse",
             "per_file[0].get", "poll[0].check", "last"]
    assert reused("per_file[1].parse", paths) == ["fetch", "fetch.compensate.undo", "per_file[1].get"]
    assert reused("per_file.parse", paths) == ["fetch", "fetch.compensate.undo", "per_file[1].get",
                                               "per_file[10].get", "per_file[0].get"]


def test_a_repeat_pass_reuses_the_passes_before_it_whole():
    paths = ["per_file", "per_file[0].get", "poll[0].check", "poll[0].note", "poll[1].check", "poll[1].note",
             "poll[2].check", "poll[2].note", "poll"]
    assert reused("poll[2].note", paths) == ["per_file", "per_file[0].get", "poll[0].check", "poll[0].note",
                                             "poll[1].check", "poll[1].note", "poll[2].check"]
    assert reused("poll.check", paths) == ["per_file", "per_file[0].get"], "no index: the first pass"
    assert reused("fetch", paths) == [] and not reuse_pattern(PLAN, "fetch")


def test_paths_that_are_not_step_paths_are_never_reused():
    assert reused("last", ["fetch", "fetch]", "fetch[", "fetch..x", "", "per_file[x].get"]) == ["fetch"]


def test_a_long_sequence_reuses_exactly_the_steps_before_the_chosen_one():
    text = "name: long\nsteps:\n" + "".join(f"  - {{id: s{i}, uses: wait, with: {{seconds: 0}}}}\n"
                                            for i in range(2_000))
    check = reuse_pattern(engine.plan(engine.load(text, "long.yaml")), "s1500")
    assert [i for i in range(2_000) if check(f"s{i}")] == list(range(1_500))
