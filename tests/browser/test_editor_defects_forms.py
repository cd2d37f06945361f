"""The editor's defects in its forms and layout (issue 14), each pinned in Chromium: a skill's
required parameters with defaults, plain validation messages, the Run dialog's YAML inputs, a
parallel block's branches at 1280 px and the toolbar at 1024 px."""

import pytest
from playwright.sync_api import expect

from builder.models import Run, Skill
from builder.services import save_workflow

from .conftest import login_as, replace_yaml, yaml_text
from .test_accessibility import serious_violations
from .test_editor_defects import add_from_palette, open_editor, shots

pytestmark = pytest.mark.django_db(transaction=True)

W = "{id: %s, uses: wait, with: {seconds: 0}}"
THREE = f"""version: 1
name: three
steps:
  - id: fan
    parallel:
      - {W % "one_branch_with_a_long_name"}
      - {W % "two_branch_with_a_long_name"}
      - {W % "three_branch_with_a_long_name"}
"""
INPUTS = """version: 1
name: with-inputs
inputs:
  tags: {type: array, default: [a, b]}
  options: {type: object}
steps:
  - {id: w, uses: wait, with: {seconds: 0, value: "${inputs.tags}"}}
"""


def test_a_skills_required_parameter_with_a_default_starts_written_not_as_a_placeholder(page, server, alice):
    Skill.objects.create(name="top_words", action="python", title="Top words", config={
        "function": "engine.functions.text:top_words", "args": ["${inputs.text}", "${inputs.n}"]},
        input_schema={"type": "object", "properties": {"text": {"type": "string"},
                                                      "n": {"type": "integer", "minimum": 1, "default": 5},
                                                      "lang": {"type": "string", "default": "en"}},
                      "required": ["text", "n"]})
    workflow = save_workflow(alice, "version: 1\nname: skilled\nsteps: []\n")
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    add_from_palette(page, "top_words")
    form = page.get_by_test_id("with-form")
    expect(form.get_by_label("n", exact=True)).to_have_value("5")  # a value, not a placeholder
    expect(form.get_by_label("text", exact=True)).to_have_value("")
    assert form.get_by_label("lang", exact=True).get_attribute("placeholder") == "en"  # optional: the default applies
    page.wait_for_timeout(300)
    assert "n: 5" in yaml_text(page)
    assert "lang" not in yaml_text(page)


def test_validation_speaks_plain_words_on_the_card_and_in_the_pane(page, server, alice, shot):
    workflow = save_workflow(alice, THREE)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    replace_yaml(page, THREE.replace("  - id: fan\n", "  - id: fan\n    concurrency: 0\n    min_success: many\n"))
    note = page.locator(".card[data-id=fan] > [data-testid=card-error]")
    expect(note).to_contain_text("concurrency must be at least 1, not 0")
    expect(note).to_contain_text("min_success takes a whole number, not 'many'")
    assert "Input should" not in note.inner_text()
    shot("messages")


def test_three_branches_and_the_new_branch_zone_are_all_reachable_at_1280(page, server, alice, shot):
    workflow = save_workflow(alice, THREE)
    page.set_viewport_size({"width": 1280, "height": 720})
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    # what scrolls: the pan-and-zoom viewport's scroll box (static/flow/viewport.js) or the canvas
    canvas = page.locator(".vp-scroll, [data-testid=canvas]:not(.vp-scroll *)").first
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")  # the page itself never scrolls sideways
    for target in [*page.locator("[data-testid=lane]").all(), page.get_by_test_id("new-branch")]:
        target.scroll_into_view_if_needed()
        box, view = target.bounding_box(), canvas.bounding_box()
        assert box["x"] >= view["x"] - 1 and box["x"] + box["width"] <= view["x"] + view["width"] + 1, (box, view)
        block = page.locator(".card[data-id=fan]").bounding_box()
        # inside the block's frame, not drawn past it or cut by a scroller of its own
        assert block["x"] - 1 <= box["x"] and box["x"] + box["width"] <= block["x"] + block["width"] + 1, (box, block)
        assert target.evaluate("n => n.closest('.lanes').scrollWidth <= n.closest('.lanes').clientWidth + 1")
    widths = page.locator("[data-testid=lane]").evaluate_all("ls => ls.map(l => l.getBoundingClientRect().width)")
    assert min(widths) >= 150, widths  # a branch keeps room for its card
    shots(page, shot, "three-branches")


def test_the_toolbar_stays_on_one_line_at_1024(page, server, alice, shot):
    workflow = save_workflow(alice, THREE.replace("name: three", "name: a-workflow-with-a-rather-long-name"))
    page.set_viewport_size({"width": 1024, "height": 768})
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    replace_yaml(page, THREE.replace("name: three", "name: a-workflow-with-a-rather-long-name").replace("seconds: 0", "seconds: x"))
    expect(page.get_by_test_id("version-state")).to_have_text("v1 (unsaved changes)")
    expect(page.get_by_test_id("validity")).to_contain_text("problems")
    rows = page.locator(".editor-bar > *:not([hidden]):not(input)").evaluate_all(
        "ns => ns.map(n => [n.textContent.trim(), Math.round(n.getBoundingClientRect().top), n.getBoundingClientRect().height])")
    assert max(top for _, top, _ in rows) < min(top + h for _, top, h in rows if h), rows  # one band
    run = page.get_by_role("button", name="▶ Run")
    save = page.get_by_role("button", name="Save", exact=True)
    assert run.bounding_box()["height"] == save.bounding_box()["height"]  # "▶ Run" on one line
    assert run.bounding_box()["x"] + run.bounding_box()["width"] <= 1024
    shot("toolbar-1024")


def test_the_run_dialog_takes_yaml_lists_and_mappings_and_names_a_bad_input(page, server, alice, shot):
    workflow = save_workflow(alice, INPUTS)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    page.get_by_role("button", name="▶ Run").click()
    dialog = page.locator("dialog[data-dialog=run]")
    tags = dialog.locator("textarea[name=tags]")
    expect(tags).to_have_value("- a\n- b")  # the default, shown in YAML
    dialog.locator("textarea[name=options]").fill("mode: fast\nlimits: {n: 3}")
    tags.fill("[x, y")
    page.click("[data-testid=run-confirm]")
    error = dialog.locator("[data-error]")
    expect(error).to_contain_text("tags: not valid YAML")
    expect(tags).to_be_focused()
    tags.fill("key: value")
    page.click("[data-testid=run-confirm]")
    expect(error).to_have_text("tags: expected a list (- one per line, or [a, b]), got a mapping")
    assert serious_violations(page) == []
    shot("run-dialog")
    tags.fill("- x\n- 2")
    page.click("[data-testid=run-confirm]")
    page.wait_for_url(f"{server.url}/runs/*/")
    run = Run.objects.get(workflow=workflow)
    assert run.inputs == {"tags": ["x", 2], "options": {"mode": "fast", "limits": {"n": 3}}}
