"""Composing the constructs by drag and drop in a real Chromium: a switch (cases, "+ case",
default), a repeat, an approval, the workflow's on_failure and finally lanes, a block's hook,
a step's compensate; the YAML has them where FORMAT.md puts them and Save succeeds."""

import re

import pytest
import yaml
from playwright.sync_api import expect

from builder.models import Workflow
from builder.services import save_workflow

from .conftest import drag, login, login_as, yaml_text
from .constructs_data import ALL

pytestmark = pytest.mark.django_db(transaction=True)

BODY = """version: 1
name: body
steps:
  - {id: a, uses: wait, with: {seconds: 0}}
  - id: each
    foreach: [1, 2]
    steps: [{id: q, uses: wait, with: {seconds: 0}}]
  - {id: z, uses: wait, with: {seconds: 0}}
  - {id: z2, uses: wait, with: {seconds: 0}}
"""


def new_workflow(page, server, name):
    login(page, server, "alice", "alice-password")
    page.fill("#new-name", name)
    page.get_by_role("button", name="New").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    expect(page.locator("body[data-ready=true]")).to_be_attached()


def fill(page, card_id, label, value):
    """Select a card and type a value into one of its properties (once the panel shows that step)."""
    props = page.locator("[data-testid=properties]")
    for _ in range(3):
        page.locator(f".card[data-id={card_id}]").locator(":scope > .card-head .card-id").click()
        try:
            expect(props.get_by_label("id", exact=True)).to_have_value(card_id, timeout=3000)
            break
        except AssertionError:
            continue  # a redraw took the click: again
    props.get_by_label(label, exact=True).fill(value)


def save(page, version):
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid", timeout=5000)
    page.get_by_role("button", name="Save", exact=True).click()
    page.click("[data-testid=save-confirm]")
    expect(page.locator("[data-testid=version-state]")).to_have_text(f"v{version} (saved)")


def test_compose_a_switch_a_repeat_an_approval_and_hooks_by_dragging(page, server, alice, shot):
    new_workflow(page, server, "composed")
    palette = page.locator(".palette")
    wait = palette.locator("[data-name=wait]")

    drag(page, palette.locator("[data-name=switch]"), page.locator(".seq-root"))
    route = page.locator(".card[data-id=route]")
    expect(route.locator("[data-testid=lane-case]")).to_have_count(2)
    expect(route.locator("[data-testid=lane-default]")).to_have_count(1)
    drag(page, wait, route.locator("[data-case=a] .seq"))
    drag(page, wait, route.locator("[data-testid=lane-default] .seq"))
    route.locator("[data-testid=add-case]").click()
    expect(route.locator("[data-case=case_3]")).to_be_visible()
    drag(page, wait, route.locator("[data-case=case_3] .seq"))
    expect(route.locator("[data-case=case_3] .card")).to_have_count(1)

    # (the approval first: the helper takes a drop anywhere inside the root for one at its end,
    # and the repeat's open body would be at the end)
    drag(page, palette.locator("[data-name=approval]"), page.locator(".seq-root"))
    drag(page, palette.locator("[data-name=repeat]"), page.locator(".seq-root"))
    drag(page, wait, page.locator(".card[data-id=poll] [data-testid=repeat-frame] .seq"))
    assert page.locator(".seq-root > .card").evaluate_all("cs => cs.map(c => c.dataset.id)") == ["route", "approval", "poll"]
    drag(page, wait, page.locator(".workflow-hooks [data-testid=lane-on_failure] .seq"))
    drag(page, wait, page.locator(".workflow-hooks [data-testid=lane-finally] .seq"))

    # a compensation under the step of case a: "+ compensate" shows on the selected card
    first = route.locator("[data-case=a] .card").first
    first.locator(":scope > .card-head .card-id").click()
    first.locator("[data-testid=add-compensate]").click()
    drag(page, wait, page.locator(".card[data-id=wait] [data-testid=compensate] .seq"))
    expect(page.locator(".card[data-id=wait] [data-testid=fold-compensate]")).to_contain_text("1 step")

    # what the dropped steps need, by form
    fill(page, "route", "switch", "${'a'}")
    fill(page, "approval", "Message", "Go on?")
    ids = page.locator(".card-action").evaluate_all("cs => cs.filter(c => c.querySelector('.card-uses').textContent === 'wait').map(c => c.dataset.id)")
    assert len(ids) == 7
    for step_id in ids:
        fill(page, step_id, "Seconds", "0")
    page.wait_for_timeout(600)
    data = yaml.safe_load(yaml_text(page))
    steps = {s["id"]: s for s in data["steps"]}
    route_data = steps["route"]
    assert list(route_data["cases"]) == ["a", "b", "case_3"]
    assert [s["uses"] for s in route_data["cases"]["a"]] == ["wait"]
    assert route_data["cases"]["a"][0]["compensate"][0]["uses"] == "wait"
    assert route_data["cases"]["b"] == [] and len(route_data["cases"]["case_3"]) == 1
    assert [s["uses"] for s in route_data["default"]] == ["wait"]
    assert steps["poll"]["repeat"]["max"] == 3 and [s["uses"] for s in steps["poll"]["steps"]] == ["wait"]
    assert steps["approval"]["uses"] == "approval" and steps["approval"]["with"]["message"] == "Go on?"
    assert [s["uses"] for s in data["on_failure"]] == ["wait"] and [s["uses"] for s in data["finally"]] == ["wait"]
    shot("composed")
    save(page, 2)
    assert yaml.safe_load(Workflow.objects.get(name="composed").yaml) == data


def test_a_blocks_on_failure_lane_and_an_empty_foreach_body_take_drops(page, server, alice, shot):
    page.set_viewport_size({"width": 1280, "height": 720})
    workflow = save_workflow(alice, BODY)
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    page.locator(".card[data-id=q]").focus()
    page.keyboard.press("Delete")  # the body is empty now
    wait = page.locator(".palette [data-name=wait]")
    each = page.locator(".card-foreach")
    body = each.locator(":scope > .seq")
    # the card above the block, pressed, moved straight into the empty body and released, as a
    # person drags: once its ghost left the top list, the block moved up and its body away
    # from the pointer, so the card landed after the block (the list keeps its place now)
    start = page.locator(".card[data-id=a]").bounding_box()
    x0, y0 = start["x"] + 28, start["y"] + 18
    page.mouse.move(x0 - 8, y0 - 8)
    page.mouse.down()
    page.mouse.move(x0, y0, steps=4)
    target = body.bounding_box()
    x1, y1 = target["x"] + target["width"] / 2, target["y"] + target["height"] / 2
    for i in range(1, 16):
        page.mouse.move(x0 + (x1 - x0) * i / 15, y0 + (y1 - y0) * i / 15)
        page.wait_for_timeout(50)
    page.wait_for_timeout(400)
    page.mouse.up()
    expect(body.locator(".card[data-id=a]")).to_have_count(1)
    expect(page.locator(".seq-root > .card")).to_have_count(3)

    drag(page, wait, body)  # and from the palette, under it
    expect(body.locator(".card")).to_have_count(2)
    each.locator(":scope > .card-head .card-id").click()
    each.locator("[data-testid=add-on_failure]").click()
    lane = each.locator(":scope > .hook-lanes [data-testid=lane-on_failure] .seq")
    expect(lane).to_be_visible()
    drag(page, wait, lane)
    expect(lane.locator(".card")).to_have_count(1)
    page.wait_for_timeout(600)
    block = yaml.safe_load(yaml_text(page))["steps"][0]
    assert block["id"] == "each"
    assert [s["id"] for s in block["steps"]] == ["a", "wait"]
    assert [s["uses"] for s in block["on_failure"]] == ["wait"]
    shot()


def test_steps_move_between_cases_hooks_and_compensations(page, server, alice, shot):
    workflow = save_workflow(alice, ALL)
    login_as(page, server, alice)
    page.set_viewport_size({"width": 1920, "height": 1700})  # the whole flow in view: drags go top to bottom
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    route = page.locator(".card[data-id=route]")
    drag(page, page.locator(".card[data-id=book]"), route.locator("[data-testid=lane-default] .seq"))
    expect(route.locator("[data-testid=lane-default] .card")).to_have_count(2)
    page.locator(".card[data-id=ask]").focus()
    page.keyboard.press("Alt+ArrowLeft")  # to the case beside
    expect(route.locator("[data-case=receipt] .card[data-id=ask]")).to_be_visible()
    drag(page, page.locator(".card[data-id=classify]"), page.locator(".workflow-hooks [data-testid=lane-finally] .seq"))
    page.locator(".card[data-id=flight] [data-testid=fold-compensate]").click()
    drag(page, page.locator(".card[data-id=cleanup]"), page.locator(".card[data-id=flight] [data-testid=compensate] .seq"))
    page.locator(".card[data-id=tidy]").focus()
    page.keyboard.press("Delete")  # the block's only finally step: its `finally` goes
    expect(page.locator(".card[data-id=tidy]")).to_have_count(0)
    page.wait_for_timeout(600)
    data = yaml.safe_load(yaml_text(page))
    steps = {s["id"]: s for s in data["steps"]}
    assert "classify" not in steps and [s["id"] for s in data["finally"]] == ["classify"]
    assert steps["route"]["cases"] == {"invoice": [], "receipt": [
        {"id": "file_it", "uses": "wait", "with": {"seconds": 0, "value": "filed"}},
        {"id": "ask", "uses": "wait", "with": {"seconds": 0, "value": "asked"}}]}
    assert [s["id"] for s in steps["route"]["default"]] == ["book"]
    flight = steps["bookings"]["parallel"][0]
    assert [s["id"] for s in flight["compensate"]] == ["cancel_flight", "cleanup"]
    assert "finally" not in steps["bookings"]
    shot()
    save(page, 2)
