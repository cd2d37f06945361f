"""The editor's defects a new user found (issue 14), each pinned in Chromium: block-style lists
in a new workflow, the way back to the workflow's properties, renaming with its references,
Save's refusal said in the banner and marked on its line, new inputs above the steps."""

import re

import pytest
import yaml
from playwright.sync_api import expect

from builder.services import save_workflow

from .conftest import login_as, replace_yaml, yaml_text
from .test_accessibility import serious_violations

pytestmark = pytest.mark.django_db(transaction=True)

NEW = 'version: 1\nname: fresh\ntitle: ""\nsteps: []\n'  # what "New workflow" saves (builder/views.py)
REFS = """version: 1
name: refs
outputs: {total: "${first.value}"}
steps:
  - id: first
    uses: wait
    with: {seconds: 0, value: 1}
  - id: second
    uses: wait
    if: first.value == 1
    needs: [first]
    with: {seconds: 0, value: "${first.value} and ${first}"}
"""


def open_editor(page, server, workflow):
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()


def add_from_palette(page, name: str) -> None:
    """Add an entry with the keyboard (Enter on it), as a drop does."""
    page.locator(f".palette [data-name={name}]").focus()
    page.keyboard.press("Enter")


def shots(page, shot, name: str) -> None:
    for width in (1024, 1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(50)
        shot(f"{name}-{width}")


def test_a_new_workflow_writes_its_steps_in_block_style(page, server, alice, shot):
    workflow = save_workflow(alice, NEW)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    add_from_palette(page, "wait")
    add_from_palette(page, "parallel")
    page.locator(".card[data-id=wait]").click()
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    text = yaml_text(page)
    assert "steps:\n  - id: wait\n    uses: wait" in text, text
    assert "[" not in text.split("steps:")[1].split("parallel")[0], text  # no flow-style list of steps
    data = yaml.safe_load(text)
    assert [s["id"] for s in data["steps"]] == ["wait", "parallel"]
    # the markers sit on their own lines: the empty parallel's on its `parallel:` line
    expect(page.locator("[data-testid=validity]")).to_contain_text("problem")
    marked = page.evaluate("[...document.querySelectorAll('.cm-line')].filter(l => l.querySelector('.cm-lintRange-error'))"
                           ".map(l => l.textContent)")
    assert "    parallel: []" in marked and not any("steps:" in m for m in marked), marked
    page.locator(".card[data-id=parallel]").hover()
    expect(page.locator(".card[data-id=parallel] [data-testid=card-error]")).to_contain_text(
        "a parallel block needs at least one branch")
    shots(page, shot, "block-style")


def test_escape_a_click_on_empty_canvas_or_the_button_go_back_to_the_workflow(page, server, alice):
    workflow = save_workflow(alice, REFS)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    props = page.locator("[data-testid=properties]")
    expect(props.locator("[data-testid=inputs-form]")).to_be_visible()

    page.locator(".card[data-id=second]").click()
    expect(props.get_by_label("id", exact=True)).to_have_value("second")
    page.keyboard.press("Escape")
    expect(props.locator("[data-testid=inputs-form]")).to_be_visible()
    expect(page.locator(".card.selected")).to_have_count(0)

    page.locator(".card[data-id=first]").click()
    expect(props.get_by_label("id", exact=True)).to_have_value("first")
    canvas = page.locator("[data-testid=canvas]").bounding_box()
    page.mouse.click(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] - 8)  # below the flow
    expect(props.locator("[data-testid=inputs-form]")).to_be_visible()

    page.locator(".card[data-id=first]").click()
    page.get_by_test_id("to-workflow").click()
    expect(props.locator("[data-testid=inputs-form]")).to_be_visible()
    expect(page.get_by_test_id("to-workflow")).to_be_hidden()


def test_renaming_a_step_offers_to_update_its_references(page, server, alice, shot):
    workflow = save_workflow(alice, REFS)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")
    page.locator(".card[data-id=first]").click()
    page.get_by_test_id("properties").get_by_label("id", exact=True).fill("start")
    offer = page.get_by_test_id("rename-offer")
    expect(offer).to_contain_text("Step first is now start, but 5 references still name first")
    assert serious_violations(page) == []
    shot("offer")
    page.get_by_test_id("rename-apply").click()
    expect(offer).to_be_hidden()
    page.wait_for_timeout(300)
    data = yaml.safe_load(yaml_text(page))
    second = data["steps"][1]
    assert second["with"]["value"] == "${start.value} and ${start}"
    assert second["needs"] == ["start"] and second["if"] == "start.value == 1"
    assert data["outputs"] == {"total": "${start.value}"}
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")
    page.keyboard.press("Control+z")  # one undo takes the references back
    page.wait_for_timeout(300)
    assert "${first.value} and ${first}" in yaml_text(page)


def test_a_refused_save_says_why_in_the_banner_with_the_marker_on_the_name_line(page, server, alice, shot):
    save_workflow(alice, REFS)
    other = save_workflow(alice, REFS.replace("name: refs", "name: other"))
    login_as(page, server, alice)
    open_editor(page, server, other)
    replace_yaml(page, "# exported from another server\n" + REFS)  # its name clashes with the first
    expect(page.locator(".card[data-id=first]")).to_be_visible()
    page.get_by_role("button", name="Save", exact=True).click()
    page.click("[data-testid=save-confirm]")
    banner = page.get_by_test_id("banner")
    expect(banner).to_contain_text("Not saved: name: you already have a workflow named 'refs' (line 3)")
    page.wait_for_timeout(800)  # the validation of the pasted text answers after the save: the marker stays
    expect(page.get_by_test_id("validity")).to_have_text("✕ 1 problem")
    marked = page.evaluate("[...document.querySelectorAll('.cm-line')].filter(l => l.querySelector('.cm-lintRange-error'))"
                           ".map(l => l.textContent)")
    assert marked == ["name: refs"], marked
    shots(page, shot, "refused")


def test_a_new_input_goes_into_the_inputs_above_the_steps(page, server, alice):
    workflow = save_workflow(alice, REFS.replace("outputs: {total: \"${first.value}\"}\n", ""))
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    page.get_by_role("button", name="+ input").click()
    page.wait_for_timeout(300)
    text = yaml_text(page)
    assert re.search(r"^inputs:\n  input_1:\n    type: string\nsteps:", text, re.M), text
    page.get_by_role("button", name="+ input").click()
    page.wait_for_timeout(300)
    text = yaml_text(page)
    assert text.index("input_2") < text.index("steps:"), text
