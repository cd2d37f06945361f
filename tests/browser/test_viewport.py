"""Big workflows: the flow pans (drag on empty canvas, the wheel) and zooms (Ctrl+wheel, the
buttons, fit to screen) in the editor and the monitor, with a minimap past 30 steps; a
300-step workflow renders."""

import time

import pytest
from playwright.sync_api import expect

from builder.services import save_workflow

from .conftest import login_as
from .test_accessibility import serious_violations
from .test_monitor import run_from_editor

pytestmark = pytest.mark.django_db(transaction=True)


def sequence(n: int, name: str = "long") -> str:
    steps = "\n".join(f"  - {{id: s{i}, uses: wait, with: {{seconds: 0}}}}" for i in range(n))
    return f"version: 1\nname: {name}\nsteps:\n{steps}\n"


def dag(n: int, name: str = "wide") -> str:
    """n steps in three braided chains, every tenth joining two of them."""
    lines = ["  - {id: s0, uses: wait, with: {seconds: 0}}"]
    for i in range(1, n):
        needs = {max(0, i - 1 - i % 3)} | ({i - 2} if i % 10 == 0 else set())
        lines.append(f"  - {{id: s{i}, needs: [{', '.join(f's{j}' for j in sorted(needs))}], uses: wait, with: {{seconds: 0}}}}")
    return f"version: 1\nname: {name}\nsteps:\n" + "\n".join(lines) + "\n"


def open_editor(page, server, user, text):
    workflow = save_workflow(user, text)
    login_as(page, server, user)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    return workflow


def zoom(page) -> float:
    return float(page.locator("[data-testid=viewport]").first.get_attribute("data-zoom"))


def ctrl_wheel(page, target, dy: float):
    box = target.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 3)
    page.keyboard.down("Control")
    page.mouse.wheel(0, dy)
    page.keyboard.up("Control")
    page.wait_for_timeout(100)


def test_ctrl_wheel_zooms_the_buttons_zoom_and_fit_shows_the_whole_flow(page, server, alice, shot):
    open_editor(page, server, alice, sequence(40))
    viewport = page.locator("[data-testid=viewport]")
    canvas = page.locator("[data-testid=canvas]")
    assert zoom(page) == 1 and canvas.evaluate("c => c.style.transform") == ""
    ctrl_wheel(page, viewport, 300)
    assert zoom(page) < 0.9
    assert canvas.evaluate("c => c.style.transform").startswith("scale(0.")
    ctrl_wheel(page, viewport, -300)
    assert zoom(page) == pytest.approx(1, abs=0.05)

    page.get_by_role("button", name="Zoom in (Ctrl+wheel)").click()
    assert zoom(page) == pytest.approx(1.25, abs=0.01)
    page.get_by_test_id("zoom-level").click()
    assert zoom(page) == 1
    last = page.locator(".card[data-id=s39]")
    assert last.bounding_box()["y"] > viewport.bounding_box()["y"] + viewport.bounding_box()["height"]
    page.get_by_role("button", name="Fit to screen").click()
    assert zoom(page) < 0.6
    box, frame = last.bounding_box(), viewport.bounding_box()
    assert frame["y"] <= box["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"], "the last step in view"
    expect(viewport.get_by_test_id("zoom-level")).to_have_text(f"{round(zoom(page) * 100)}%")
    # still editable when zoomed out: a click selects the step
    last.click()
    expect(page.locator(".card.selected")).to_have_attribute("data-id", "s39")
    shot("fitted")


def test_dragging_empty_canvas_pans_and_keeps_the_selection(page, server, alice):
    open_editor(page, server, alice, sequence(40))
    page.locator(".card[data-id=s1]").click()
    scroller = page.locator(".vp-scroll").first
    assert scroller.evaluate("s => s.scrollTop") == 0
    frame = scroller.bounding_box()
    root = page.locator(".seq-root").bounding_box()
    x = root["x"] + 3  # the list's own padding, beside the cards: empty canvas
    y = frame["y"] + frame["height"] - 40
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x, y - 200, steps=6)
    page.mouse.up()
    assert scroller.evaluate("s => s.scrollTop") == pytest.approx(200, abs=4)
    expect(page.locator(".card.selected")).to_have_attribute("data-id", "s1")  # a pan is not a click


def test_the_minimap_shows_past_30_steps_and_moves_the_view(page, server, alice):
    open_editor(page, server, alice, sequence(30, "thirty"))
    expect(page.locator(".card")).to_have_count(30)
    page.wait_for_timeout(100)
    expect(page.locator("[data-testid=minimap]")).to_be_hidden()

    open_editor(page, server, alice, sequence(31, "thirty-one"))
    minimap = page.locator("[data-testid=minimap]")
    expect(minimap).to_be_visible()
    scroller = page.locator(".vp-scroll").first
    box = minimap.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] - 3)
    assert scroller.evaluate("s => s.scrollTop") > 300, "a click low on the minimap shows the flow's end"


def test_the_monitor_zooms_fits_and_has_the_minimap(page, server, alice, shot):
    workflow = save_workflow(alice, dag(40, "monitored"))
    login_as(page, server, alice)
    run_from_editor(page, server, workflow)
    expect(page.locator("[data-testid=run-status]")).to_have_attribute("data-status", "succeeded", timeout=20000)
    viewport = page.locator("[data-testid=viewport]").first
    expect(page.locator("[data-testid=minimap]")).to_be_visible()
    ctrl_wheel(page, viewport, 200)
    assert zoom(page) < 1
    page.get_by_role("button", name="Fit to screen").click()
    last, frame = page.locator(".card[data-id=s39]").bounding_box(), viewport.bounding_box()
    assert last["y"] + last["height"] <= frame["y"] + frame["height"] + 1
    for width in (1024, 1280, 1920):
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(150)
        shot(f"monitor-{width}")
    assert serious_violations(page) == []


@pytest.mark.parametrize("shape", ["sequence", "graph"])
def test_a_300_step_workflow_renders(page, server, alice, shot, shape):
    text = sequence(300, "three-hundred") if shape == "sequence" else dag(300, "three-hundred-dag")
    started = time.perf_counter()
    open_editor(page, server, alice, text)
    expect(page.locator(".card")).to_have_count(300)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"the editor took {elapsed:.1f} s to show 300 steps"
    if shape == "graph":
        expect(page.locator(".seq.dag-placed:not(.dag-pending)")).to_have_count(1)  # the worker's layout is in
        assert page.locator("[data-testid=edges] path.edge").count() >= 299
    expect(page.locator("[data-testid=minimap]")).to_be_visible()
    for width in (1024, 1280, 1920):
        page.set_viewport_size({"width": width, "height": 800})
        page.get_by_role("button", name="Fit to screen").click()
        page.wait_for_timeout(150)
        shot(f"fit-{width}")
    assert serious_violations(page) == []
