"""The editor in a real Chromium: drag and drop, properties, the YAML pane both ways, save."""

import re

import pytest
import yaml
from playwright.sync_api import expect

from builder.models import Workflow
from builder.services import save_workflow

from .conftest import drag, login, login_as, replace_yaml, yaml_text

pytestmark = pytest.mark.django_db(transaction=True)

TWO = """version: 1
name: two
steps:
  - id: first
    uses: wait
    with: {seconds: 0.01, value: 1}
"""


def open_editor(page, server, workflow):
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()


def test_compose_a_parallel_block_by_dragging_and_save(page, server, alice, shot):
    login(page, server, "alice", "alice-password")
    page.fill("#new-name", "two-branches")
    page.get_by_role("button", name="New").click()
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    expect(page.locator("body[data-ready=true]")).to_be_attached()

    palette = page.locator(".palette")
    drag(page, palette.locator("[data-name=parallel]"), page.locator(".seq-root"))
    expect(page.locator(".card-parallel")).to_have_count(1)
    drag(page, palette.locator("[data-name=wait]"), page.locator("[data-testid=new-branch]"))
    drag(page, palette.locator("[data-name=wait]"), page.locator("[data-testid=new-branch]"))
    expect(page.locator("[data-testid=lane]")).to_have_count(2)
    drag(page, palette.locator("[data-name=wait]"), page.locator("[data-testid=lane]").first.locator(".seq"))
    expect(page.locator("[data-testid=lane]").first.locator(".card")).to_have_count(2)

    for step_id, seconds in (("wait", "0.5"), ("wait_2", "0.4"), ("wait_3", "0.2")):
        page.locator(f".card[data-id={step_id}]").click()
        page.get_by_label("Seconds").fill(seconds)
    page.get_by_label("id", exact=True).fill("after")
    expect(page.locator(".card[data-id=after]")).to_be_visible()

    page.wait_for_timeout(600)  # the pane follows within half a second
    data = yaml.safe_load(yaml_text(page))
    block = data["steps"][0]
    assert "parallel" in block and len(block["parallel"]) == 2
    first, second = block["parallel"]
    assert [s["id"] for s in first["steps"]] == ["wait", "after"]
    assert [s["with"]["seconds"] for s in first["steps"]] == [0.5, 0.2]
    assert second == {"id": "wait_2", "uses": "wait", "with": {"seconds": 0.4}}
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")

    page.get_by_role("button", name="Save", exact=True).click()
    page.fill("#save-message", "two branches")
    page.click("[data-testid=save-confirm]")
    expect(page.locator("[data-testid=version-state]")).to_have_text("v2 (saved)")
    workflow = Workflow.objects.get(name="two-branches")
    assert workflow.version == 2 and yaml.safe_load(workflow.yaml) == data
    assert workflow.versions.get(number=2).message == "two branches"
    shot()


def test_the_yaml_pane_drives_the_canvas_and_shows_errors(page, server, alice, shot):
    workflow = save_workflow(alice, TWO)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    expect(page.locator(".card")).to_have_count(1)

    replace_yaml(page, TWO + "  - id: extra\n    uses: wait\n    with: {seconds: 0.01}\n")
    expect(page.locator(".card[data-id=extra]")).to_be_visible(timeout=2000)

    replace_yaml(page, TWO + "  - id: extra\n    uses: waitt\n    with: {seconds: 0.01}\n")
    expect(page.locator(".cm-lintRange-error").first).to_be_visible()
    expect(page.locator(".card[data-id=extra]")).to_have_class(re.compile("has-error"))
    expect(page.locator("[data-testid=validity]")).to_contain_text("problem")
    assert "waitt" in page.locator(".card[data-id=extra]").get_attribute("title")
    shot("lint")

    broken = TWO + "  - id: half\n    uses: [wait\n"
    replace_yaml(page, broken)
    expect(page.locator("[data-testid=banner]")).to_contain_text("The YAML has an error")
    expect(page.locator(".card[data-id=extra]")).to_be_visible()  # the last valid state stays
    assert "uses: [wait" in yaml_text(page)  # and the text is never lost
    page.reload()  # the draft survives a reload
    expect(page.locator("[data-testid=banner]")).to_contain_text("Restored unsaved changes")
    assert "uses: [wait" in yaml_text(page)
    expect(page.locator(".card[data-id=first]")).to_be_visible()  # the saved state, as the draft cannot show
    shot("syntax")


def test_delete_undo_redo_and_keyboard(page, server, alice):
    second = "  - id: second\n    uses: wait\n    with: {seconds: 0.01}\n"
    workflow = save_workflow(alice, "# the top comment stays\n" + TWO + second)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    page.locator(".card[data-id=second]").focus()
    page.keyboard.press("Delete")
    expect(page.locator(".card[data-id=second]")).to_have_count(0)
    page.wait_for_timeout(100)
    assert "id: second" not in yaml_text(page)
    assert yaml_text(page).startswith("# the top comment stays")
    page.keyboard.press("Control+z")
    expect(page.locator(".card[data-id=second]")).to_have_count(1)
    page.keyboard.press("Control+Shift+z")
    expect(page.locator(".card[data-id=second]")).to_have_count(0)
    # the palette works from the keyboard too
    page.locator("[data-name=merge]").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".card[data-id=merge]")).to_be_visible()
    expect(page.locator("[data-testid=with-form]")).to_be_visible()
    # reference completions: `${fi` offers the earlier step
    field = page.locator("[data-testid=with-form] textarea").first
    page.get_by_role("button", name="+ Values item").click()
    field = page.locator("[data-testid=with-form] textarea").first
    field.fill("")
    field.type("${fi")
    expect(page.locator("[data-testid=completion]").first).to_have_text("first")


def test_history_restore_export_and_import(page, server, alice, tmp_path, shot):
    workflow = save_workflow(alice, TWO)
    workflow = save_workflow(alice, TWO + "  - {id: second, uses: wait, with: {seconds: 0}}\n", "a second step",
                             workflow)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    expect(page.locator(".card")).to_have_count(2)

    page.get_by_role("button", name="History").click()
    page.locator("[data-testid=version]", has_text="v1").click()
    expect(page.locator("[data-testid=version-view]")).to_contain_text("id: first")
    assert "id: second" not in page.locator("[data-testid=version-view]").inner_text()
    page.get_by_role("button", name="Restore v1").click()
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator("[data-testid=banner]")).to_contain_text("Restored version 1")
    expect(page.locator("[data-testid=version-state]")).to_have_text("v2 (unsaved changes)")

    with page.expect_download() as info:
        page.get_by_role("button", name="Export").click()
    exported = info.value.path().read_text()
    assert yaml.safe_load(exported) == yaml.safe_load(TWO)

    other = tmp_path / "other.yaml"
    other.write_text(TWO.replace("first", "imported"))
    page.set_input_files("[data-testid=import-file]", str(other))
    expect(page.locator(".card[data-id=imported]")).to_be_visible()
    expect(page.locator("[data-testid=banner]")).to_contain_text("Imported other.yaml")
    shot()


MOVES = """version: 1
name: moves
steps:
  - id: both
    parallel:
      - {id: a, uses: wait, with: {seconds: 0}}
      - {id: b, uses: wait, with: {seconds: 0}}
  - {id: c, uses: wait, with: {seconds: 0}}
"""


def test_move_steps_into_and_out_of_branches_and_reorder(page, server, alice, shot):
    workflow = save_workflow(alice, MOVES)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")

    first_lane = page.locator("[data-testid=lane]").first.locator(".seq")
    drag(page, page.locator(".card[data-id=c]"), first_lane)
    expect(first_lane.locator(".card")).to_have_count(2)
    page.wait_for_timeout(300)
    data = yaml.safe_load(yaml_text(page))
    lane = data["steps"][0]["parallel"][0]
    assert [s["id"] for s in lane["steps"]] == ["a", "c"] and len(data["steps"]) == 1

    drag(page, page.locator(".card[data-id=c]"), page.locator(".seq-root"))
    expect(page.locator(".seq-root > .card[data-id=c]")).to_have_count(1)
    drag(page, page.locator(".card[data-id=c]"), page.locator(".seq-root"), where="start")
    expect(page.locator(".seq-root > .card").first).to_have_attribute("data-id", "c")
    page.wait_for_timeout(300)
    data = yaml.safe_load(yaml_text(page))
    assert [s["id"] for s in data["steps"]] == ["c", "both"]
    assert [s["id"] for s in data["steps"][1]["parallel"][0]["steps"]] == ["a"]
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")

    page.locator(".card[data-id=b]").focus()  # the keyboard moves between branches too
    page.keyboard.press("Alt+ArrowLeft")
    expect(page.locator("[data-testid=lane]")).to_have_count(1)
    expect(page.locator(".card[data-id=b]")).to_be_focused()
    page.keyboard.press("Alt+ArrowRight")  # right of the last branch: a new one
    expect(page.locator("[data-testid=lane]")).to_have_count(2)
    shot()


def test_the_workflow_panel_edits_inputs_that_the_run_dialog_asks_for(page, server, alice):
    workflow = save_workflow(alice, TWO)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    panel = page.locator("[data-testid=inputs-form]")
    panel.get_by_role("button", name="+ input").click()
    panel.get_by_label("name", exact=True).fill("topic")
    panel.get_by_label("default (YAML)").fill("hello")
    panel.get_by_label("required").check()
    page.wait_for_timeout(600)
    data = yaml.safe_load(yaml_text(page))
    assert data["inputs"] == {"topic": {"type": "string", "default": "hello", "required": True}}
    panel.get_by_label("default (YAML)").fill("on")  # a string here; YAML 1.1 would read `on` as true
    page.wait_for_timeout(600)
    assert 'default: "on"' in yaml_text(page)
    panel.get_by_label("default (YAML)").fill("hello")
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")
    page.get_by_role("button", name="Save", exact=True).click()
    page.click("[data-testid=save-confirm]")
    expect(page.locator("[data-testid=version-state]")).to_have_text("v2 (saved)")
    page.get_by_role("button", name="▶ Run").click()
    expect(page.get_by_label("topic * (string)")).to_have_value("hello")


def test_saving_over_a_newer_version_asks_first(page, server, alice):
    workflow = save_workflow(alice, TWO)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    save_workflow(alice, TWO.replace("value: 1", "value: 2"), "from another tab", workflow)  # v2 behind its back
    page.locator(".card[data-id=first]").click()
    page.get_by_label("name", exact=True).fill("First step")
    page.get_by_role("button", name="Save", exact=True).click()
    page.click("[data-testid=save-confirm]")
    expect(page.locator("[data-testid=banner]")).to_contain_text("at version 2 now")
    expect(page.locator("[data-testid=version-state]")).to_have_text("v1 (unsaved changes)")
    page.get_by_role("button", name="Save mine as the newest version").click()
    page.click("[data-testid=save-confirm]")
    expect(page.locator("[data-testid=version-state]")).to_have_text("v3 (saved)")
    assert "First step" in Workflow.objects.get(pk=workflow.pk).yaml


COMMENTED = """# sales report: runs every morning
version: 1
name: commented
steps:
  - id: both
    parallel:
      - id: a   # the slow branch
        uses: wait
        with: {seconds: 0}   # flow style stays
      - {id: b, uses: wait, with: {seconds: 0}}

  # c sums up
  - id: c
    uses: wait
    with:
      seconds: 0   # no wait
      value: 'on'
"""


def test_canvas_edits_keep_the_comments_and_style_of_the_yaml(page, server, alice, shot):
    workflow = save_workflow(alice, COMMENTED)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    drag(page, page.locator(".card[data-id=c]"), page.locator("[data-testid=lane]").first.locator(".seq"))
    expect(page.locator("[data-testid=lane]").first.locator(".card")).to_have_count(2)
    page.locator(".card[data-id=b]").click()
    page.get_by_label("name", exact=True).fill("Branch B")
    page.wait_for_timeout(300)
    text = yaml_text(page)
    for kept in ("# sales report: runs every morning", "id: a # the slow branch", "# flow style stays",
                 "# c sums up", "seconds: 0 # no wait", "value: 'on'", "{id: b, uses: wait, with: {seconds: 0}, name: Branch B}"):
        assert kept in text, f"{kept!r} lost from:\n{text}"
    data = yaml.safe_load(text)
    assert [s["id"] for s in data["steps"][0]["parallel"][0]["steps"]] == ["a", "c"]
    assert data["steps"][0]["parallel"][0]["steps"][1]["with"]["value"] == "on"
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")
    shot()


LOOP = """version: 1
name: looping
steps:
  - {id: first, uses: wait, with: {seconds: 0}}
  - id: each
    foreach: [1, 2]
    steps:
      - {id: x, uses: wait, with: {seconds: 0, value: "${item}"}}
  - id: both
    parallel:
      - {id: a, uses: wait, with: {seconds: 0}}
      - {id: b, uses: wait, with: {seconds: 0}}
"""


def test_the_keyboard_moves_steps_into_and_out_of_bodies_and_branches(page, server, alice):
    workflow = save_workflow(alice, LOOP)
    login_as(page, server, alice)
    open_editor(page, server, workflow)

    def ids():
        page.wait_for_timeout(100)
        data = yaml.safe_load(yaml_text(page))
        return [s["id"] for s in data["steps"]], [s["id"] for s in data["steps"][1 if data["steps"][0]["id"] != "each" else 0]["steps"]]

    card = page.locator(".card[data-id=first]")
    card.focus()
    page.keyboard.press("Alt+ArrowDown")  # into the loop's body, at its start
    expect(page.locator(".card[data-id=each] .card[data-id=first]")).to_be_focused()
    assert ids() == (["each", "both"], ["first", "x"])
    page.keyboard.press("Alt+ArrowDown")  # past x
    page.keyboard.press("Alt+ArrowDown")  # out of the body, after the loop
    expect(page.locator(".seq-root > .card[data-id=first]")).to_be_focused()
    assert ids() == (["each", "first", "both"], ["x"])
    page.keyboard.press("Alt+ArrowUp")  # back into the body, at its end
    assert ids() == (["each", "both"], ["x", "first"])

    page.locator(".card[data-id=a]").focus()
    page.keyboard.press("Alt+ArrowUp")  # out of its branch, before the parallel block
    expect(page.locator(".seq-root > .card[data-id=a]")).to_be_focused()
    expect(page.locator("[data-testid=lane]")).to_have_count(1)
    data = yaml.safe_load(yaml_text(page))
    assert [s["id"] for s in data["steps"]] == ["each", "a", "both"]
    expect(page.locator("[data-testid=validity]")).to_have_text("✓ valid")


DAG = """version: 1
name: dag
steps:
  - {id: fetch, uses: wait, with: {seconds: 0}}
  - {id: left, needs: [fetch], uses: wait, with: {seconds: 0}}
  - {id: right, needs: [fetch], uses: wait, with: {seconds: 0}}
  - {id: join, needs: [left, right], uses: wait, with: {seconds: 0}}
"""


def edges(page):
    return sorted(page.locator("[data-testid=edges] path.edge").evaluate_all(
        "paths => paths.map(p => p.dataset.from + '>' + p.dataset.to)"))


def test_needs_are_drawn_as_arrows_between_the_cards(page, server, alice, shot):
    workflow = save_workflow(alice, DAG)
    login_as(page, server, alice)
    open_editor(page, server, workflow)
    assert edges(page) == ["fetch>left", "fetch>right", "left>join", "right>join"]
    # the arrow ends on the waiting card's top edge (the graph reads from top to bottom)
    end, card = page.evaluate("""() => {
        const path = document.querySelector('[data-testid=edges] path[data-to=join]');
        const p = path.getPointAtLength(path.getTotalLength());
        const m = path.getScreenCTM();
        const r = document.querySelector('.card[data-id=join]').getBoundingClientRect();
        return [[p.x * m.a + m.e, p.y * m.d + m.f], [r.left, r.right, r.top, r.bottom]];
    }""")
    assert card[0] <= end[0] <= card[1] and abs(end[1] - card[2]) <= 3
    shot("dag")
    replace_yaml(page, DAG.replace("needs: [left, right], ", ""))
    expect(page.locator("[data-testid=edges] path.edge[data-to=join]")).to_have_count(0)  # a dashed one: after right
    assert edges(page) == ["fetch>left", "fetch>right"]
