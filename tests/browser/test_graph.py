"""needs lists drawn as layered graphs (dagre) in the editor and the monitor, and a needs
added by dragging from a card's handle to another card."""

import pytest
import yaml
from playwright.sync_api import expect

from builder.models import Workflow
from builder.services import save_workflow

from .conftest import login_as, yaml_text
from .test_accessibility import serious_violations
from .test_monitor import run_from_editor

pytestmark = pytest.mark.django_db(transaction=True)

DIAMOND = """version: 1
name: diamond
steps:
  - {id: a, uses: wait, with: {seconds: 0}}
  - {id: b, needs: [a], uses: wait, with: {seconds: 0.2}}
  - {id: c, needs: [a], uses: wait, with: {seconds: 0.2}}
  - {id: d, needs: [b, c], uses: wait, with: {seconds: 0}}
"""

CHAIN = """version: 1
name: chain
steps:
  - {id: a, uses: wait, with: {seconds: 0}}
  - {id: b, uses: wait, with: {seconds: 0}}
  - {id: c, uses: wait, with: {seconds: 0}}
"""


def boxes(page, ids):
    return {i: page.locator(f".card[data-id={i}]").bounding_box() for i in ids}


def arrows(page, kind="edge"):
    return sorted(page.locator(f"[data-testid=edges] path.{kind}").evaluate_all(
        "paths => paths.map(p => p.dataset.from + '>' + p.dataset.to)"))


def assert_diamond(page):
    """b and c side by side under a, d under both, and an arrow for each needs."""
    expect(page.locator(".seq.dag-placed")).to_have_count(1)
    box = boxes(page, "abcd")
    b, c = box["b"], box["c"]
    assert abs(b["y"] - c["y"]) < 2, "b and c on one rank"
    assert b["x"] + b["width"] <= c["x"], "side by side, not overlapping, in the list's order"
    assert box["a"]["y"] + box["a"]["height"] < b["y"]
    assert b["y"] + b["height"] < box["d"]["y"]
    assert arrows(page) == ["a>b", "a>c", "b>d", "c>d"]
    # each arrow ends on the top edge of the step that waits
    for target in "bcd":
        end = page.evaluate("""id => [...document.querySelectorAll(`[data-testid=edges] path[data-to=${id}]`)].map(p => {
            const pt = p.getPointAtLength(p.getTotalLength()); const m = p.getScreenCTM();
            return [pt.x * m.a + m.e, pt.y * m.d + m.f]; })""", target)
        r = box[target]
        for x, y in end:
            assert r["x"] <= x <= r["x"] + r["width"] and abs(y - r["y"]) <= 3


def test_a_diamond_is_drawn_as_a_layered_graph_in_the_editor_and_the_monitor(page, server, alice, shot):
    workflow = save_workflow(alice, DIAMOND)
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    assert_diamond(page)
    for width in (1024, 1280, 1920):
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(100)
        assert_diamond(page)
        shot(f"editor-{width}")
    assert serious_violations(page) == []

    page.set_viewport_size({"width": 1400, "height": 900})
    run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=15000)
    assert_diamond(page)
    for width in (1024, 1280, 1920):
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(100)
        assert_diamond(page)
        shot(f"monitor-{width}")
    assert serious_violations(page) == []


def test_a_list_without_needs_stays_a_column_and_needs_empty_starts_a_graph(page, server, alice):
    workflow = save_workflow(alice, CHAIN.replace("{id: c, uses", "{id: c, needs: [], uses"))
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    # c waits for nothing: it starts beside a; b waits for a, the step before it (a dashed arrow)
    box = boxes(page, "abc")
    assert abs(box["a"]["y"] - box["c"]["y"]) < 2 and box["b"]["y"] > box["a"]["y"] + box["a"]["height"]
    assert arrows(page, "edge-seq") == ["a>b"] and arrows(page) == []
    save = page.locator(".cm-content")
    assert save.is_visible()
    from .conftest import replace_yaml
    replace_yaml(page, CHAIN)
    expect(page.locator(".seq.dag")).to_have_count(0)
    expect(page.locator("[data-testid=edges]")).to_have_count(0)


def drag_needs(page, source: str, target: str):
    """Hover the source card, press its handle and release over the target card."""
    page.locator(f".card[data-id={source}] .card-head").hover()
    handle = page.locator(f".card[data-id={source}] > [data-testid=needs-handle]")
    expect(handle).to_be_visible()
    h = handle.bounding_box()
    page.mouse.move(h["x"] + h["width"] / 2, h["y"] + h["height"] / 2)
    page.mouse.down()
    t = page.locator(f".card[data-id={target}]").bounding_box()
    page.mouse.move(t["x"] + t["width"] / 2, t["y"] + 8, steps=8)
    expect(page.locator(f".card[data-id={target}]")).to_have_class(
        __import__("re").compile(r"needs-(target|refused)"))
    page.mouse.up()


def steps_of(page):
    page.wait_for_timeout(250)
    return {s["id"]: s for s in yaml.safe_load(yaml_text(page))["steps"]}


def test_dragging_from_a_handle_adds_a_needs_and_the_workflow_saves(page, server, alice, shot):
    workflow = save_workflow(alice, CHAIN)
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    drag_needs(page, "a", "c")  # c already waited for a through b: now for a instead of b
    expect(page.locator("[data-testid=banner]")).to_contain_text("'c' now waits for 'a' instead of 'b'")
    assert steps_of(page)["c"]["needs"] == ["a"]
    assert arrows(page) == ["a>c"] and arrows(page, "edge-seq") == ["a>b"]
    box = boxes(page, "bc")
    assert abs(box["b"]["y"] - box["c"]["y"]) < 2, "b and c now side by side"
    drag_needs(page, "b", "c")  # fan-in
    assert steps_of(page)["c"]["needs"] == ["a", "b"]
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")
    shot("after")
    page.get_by_role("button", name="Save", exact=True).click()
    page.click("[data-testid=save-confirm]")
    expect(page.locator("[data-testid=version-state]")).to_have_text("v2 (saved)")
    saved = yaml.safe_load(Workflow.objects.get(pk=workflow.pk).yaml)
    assert saved["steps"][2]["needs"] == ["a", "b"]


def test_a_needs_to_a_later_step_moves_the_waiting_step_down(page, server, alice):
    workflow = save_workflow(alice, DIAMOND.replace("{id: c, needs: [a]", "{id: c, needs: []"))
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    drag_needs(page, "c", "b")  # b comes before c in the list: it moves below c
    expect(page.locator("[data-testid=banner]")).to_contain_text("'b' now waits for 'c'")
    steps = steps_of(page)
    assert list(steps) == ["a", "c", "b", "d"] and steps["b"]["needs"] == ["a", "c"]
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")


def test_a_cycle_is_refused_with_a_message_and_the_yaml_is_unchanged(page, server, alice):
    workflow = save_workflow(alice, DIAMOND)
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    before = yaml_text(page)
    drag_needs(page, "d", "a")
    expect(page.locator("[data-testid=banner]")).to_contain_text("would make a cycle (a → b → d → a)")
    drag_needs(page, "b", "d")
    expect(page.locator("[data-testid=banner]")).to_contain_text("'d' already waits for 'b'")
    assert yaml_text(page) == before
    expect(page.locator("[data-testid=version-state]")).to_have_text("v1 (saved)")


NESTED = """version: 1
name: nested
inputs: {files: {type: array, default: [1, 2]}}
steps:
  - {id: start, uses: wait, with: {seconds: 0}}
  - id: each
    needs: [start]
    foreach: ${inputs.files}
    steps:
      - {id: read, uses: wait, with: {seconds: 0}}
      - {id: left, needs: [read], uses: wait, with: {seconds: 0}}
      - {id: right, needs: [read], uses: wait, with: {seconds: 0}}
  - {id: side, needs: [start], uses: wait, with: {seconds: 0}}
"""


def test_a_graph_inside_a_block_of_a_graph_is_laid_out_inside_it(page, server, alice, shot):
    workflow = save_workflow(alice, NESTED)
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    expect(page.locator(".seq.dag-placed")).to_have_count(2)
    box = boxes(page, ["start", "each", "side", "read", "left", "right"])
    inner = [box[i] for i in ("read", "left", "right")]
    outer = box["each"]
    assert all(outer["x"] <= r["x"] and r["x"] + r["width"] <= outer["x"] + outer["width"]
               and r["y"] + r["height"] <= outer["y"] + outer["height"] for r in inner), "the body's graph inside its block"
    assert abs(box["left"]["y"] - box["right"]["y"]) < 2 and box["left"]["x"] < box["right"]["x"]
    assert abs(outer["y"] - box["side"]["y"]) < 2, "the block and side start together after start"
    assert not (box["side"]["x"] < outer["x"] + outer["width"] and outer["x"] < box["side"]["x"] + box["side"]["width"])
    assert arrows(page) == ["read>left", "read>right", "start>each", "start>side"]
    shot()
    drag_needs(page, "left", "side")  # not one list: refused, and said why
    expect(page.locator("[data-testid=banner]")).to_contain_text("'left' and 'side' are in different lists")
    expect(page.locator("[data-testid=version-state]")).to_have_text("v1 (saved)")
