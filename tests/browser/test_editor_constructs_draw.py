"""Every construct of FORMAT.md drawn by the shared flow renderer in the editor: switch cases
side by side and labelled, the repeat frame, the approval card, on_failure / finally lanes,
compensations folded; each card's path is the engine's; the timeout badge is an SVG icon."""

import re

import pytest
from playwright.sync_api import expect

from builder.services import save_workflow

from .conftest import login_as
from .constructs_data import ALL, PATHS
from .test_accessibility import serious_violations

pytestmark = pytest.mark.django_db(transaction=True)


def constructs_violations(page) -> list[str]:
    """axe-core's serious violations, but CodeMirror's scroller: a YAML longer than its pane
    scrolls, and axe does not count the contenteditable inside it as focusable (the lead knows)."""
    return [v for v in serious_violations(page) if "'.cm-scroller'" not in v]


def open_editor(page, server, workflow):
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()


def test_every_construct_is_drawn_with_the_engines_paths(page, server, alice, shot):
    workflow = save_workflow(alice, ALL)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")
    expect(page.locator(".card[data-kind=invalid]")).to_have_count(0)
    drawn = page.evaluate("Object.fromEntries([...document.querySelectorAll('.card')].map(c => [c.dataset.id, c.dataset.path]))")
    assert drawn == PATHS

    # switch: its cases side by side, each labelled with its value, then the default
    route = page.locator(".card[data-id=route]")
    expect(route.locator(":scope > .switch-head")).to_contain_text("switch on inputs.kind")
    labels = route.locator(":scope > .switch-lanes > .lane > .lane-head").all_text_contents()
    assert [t.strip() for t in labels] == ["= invoice", "= receipt", "default"]
    boxes = [route.locator(f".card[data-id={i}]").bounding_box() for i in ("book", "file_it", "ask")]
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"] and abs(boxes[0]["y"] - boxes[2]["y"]) < 2

    # repeat: a loop frame that says until what and how many passes
    frame = page.locator(".card[data-id=poll] [data-testid=repeat-frame]")
    expect(frame.locator("[data-testid=repeat-until]")).to_have_text("check == 2")
    expect(frame.locator("[data-testid=repeat-max]")).to_contain_text("at most 5 passes")
    expect(frame.locator(".card[data-id=check]")).to_be_visible()

    # approval: a card of its own, saying who decides
    approval = page.locator(".card[data-id=sign_off]")
    expect(approval).to_have_class(re.compile("card-approval"))
    expect(approval).to_contain_text("decided by alice · within 2d")

    # hooks: the block's finally lane, the workflow's on_failure and finally lanes
    expect(page.locator(".card[data-id=bookings] > .hook-lanes [data-testid=lane-finally] .card[data-id=tidy]")).to_be_visible()
    expect(page.locator(".workflow-hooks [data-testid=lane-on_failure] .card[data-id=alert]")).to_be_visible()
    expect(page.locator(".workflow-hooks [data-testid=lane-finally] .card[data-id=cleanup]")).to_be_visible()

    # compensate: folded under its step, unfolded by its toggle
    flight = page.locator(".card[data-id=flight]")
    toggle = flight.locator("[data-testid=fold-compensate]")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_contain_text("compensate · 1 step")
    expect(page.locator(".card[data-id=cancel_flight]")).to_be_hidden()
    shot("folded")
    toggle.click()
    expect(page.locator(".card[data-id=cancel_flight]")).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    assert constructs_violations(page) == []

    # every glyph of the drawing is one Debian's fonts have: the timeout badge is an SVG clock
    badge = page.locator(".card[data-id=classify] .badge", has_text="20s")
    expect(badge.locator("svg.icon-clock")).to_have_count(1)
    text = page.locator("[data-testid=canvas]").inner_text()
    assert "⏱" not in text and "⏰" not in text
    for width in (1024, 1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        page.locator(".card[data-id=classify]").evaluate("c => c.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(100)
        shot(f"{width}")


def test_a_narrow_card_keeps_its_delete_button_on_its_first_line(page, server, alice, shot):
    three = ALL.replace("      - id: hotel\n", "      - {id: car, uses: wait, with: {seconds: 0, value: a_long_value_for_a_car}}\n"
                        "      - {id: train_with_a_long_name, uses: wait, with: {seconds: 0}, timeout: 20s, retry: {attempts: 2}}\n"
                        "      - id: hotel\n")
    workflow = save_workflow(alice, three)
    login_as(page, server, alice)
    page.set_viewport_size({"width": 1024, "height": 800})
    open_editor(page, server, workflow)
    for step_id in ("car", "train_with_a_long_name", "hotel", "book"):
        card = page.locator(f".card[data-id={step_id}]")
        x = card.locator(":scope > .card-head > .card-delete").bounding_box()
        name = card.locator(":scope > .card-head > .card-id").bounding_box()
        box = card.bounding_box()
        assert x["y"] < name["y"] + name["height"], step_id  # on the line of the id, not wrapped below
        assert x["x"] + x["width"] <= box["x"] + box["width"] + 1, step_id
    shot()
