"""The planner: dependencies and paths."""

import engine
from tests.engine.helpers import load


def test_plain_sequences_are_not_dags_and_needs_lists_are():
    plan = engine.plan(load("""
        name: p
        steps:
          - {id: a, needs: [], uses: wait, with: {seconds: 0}}
          - {id: b, uses: wait, with: {seconds: 0}}
          - {id: c, needs: [a], uses: wait, with: {seconds: 0}}
          - id: g
            needs: [a, c]
            steps:
              - {id: g1, uses: wait, with: {seconds: 0}}
              - {id: g2, uses: wait, with: {seconds: 0}}
    """))
    assert plan.dag
    assert [n.deps for n in plan.nodes] == [(), (0,), (0,), (0, 2)]
    group = plan.nodes[3]
    assert not group.dag and [c.id for c in group.children] == ["g1", "g2"]


def test_static_parameters_are_validated_once_at_plan_time():
    plan = engine.plan(load("""
        name: p
        steps:
          - {id: a, uses: wait, with: {seconds: 2m}}
          - {id: b, uses: wait, with: {seconds: "${a}"}}
    """))
    assert plan.nodes[0].params.seconds == 120 and plan.nodes[1].params is None


def test_describe_gives_the_step_tree():
    plan = engine.plan(load("""
        name: p
        steps:
          - id: p
            parallel:
              - {id: a, uses: wait, with: {seconds: 0}}
              - {id: e, foreach: [1], steps: [{id: x, uses: wait, with: {seconds: 0}}]}
    """))
    tree = plan.describe()
    assert tree[0]["kind"] == "parallel"
    assert [c["id"] for c in tree[0]["children"]] == ["a", "e"]
    assert tree[0]["children"][1]["children"][0] == {"id": "x", "kind": "action", "name": None,
                                                     "path": "steps[0].parallel[1].steps[0]", "uses": "wait"}
