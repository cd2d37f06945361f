"""Composing the constructs by form and keyboard in a real Chromium: a switch's expression and
cases, a group made a repeat, the workflow's concurrency and on_failure, a step's compensate;
an empty lane clicked takes the palette's Enter; `${` offers what each list may read; Save."""

import re

import pytest
import yaml
from playwright.sync_api import expect

from builder.services import save_workflow

from .conftest import login_as, yaml_text
from .test_editor_constructs_drag import fill, save
from .test_editor_constructs_draw import constructs_violations

pytestmark = pytest.mark.django_db(transaction=True)

START = """version: 1
name: by-form
inputs:
  kind: {type: string, default: invoice}
steps:
  - id: first
    uses: wait
    with: {seconds: 0, value: 1}
"""


def palette_enter(page, name):
    page.locator(f".palette [data-name={name}]").focus()
    page.keyboard.press("Enter")


def props(page):
    return page.locator("[data-testid=properties]")


def offered(page, field, typed="${"):
    """The completions a field offers after `typed`."""
    field.fill("")
    field.type(typed)
    expect(page.locator("[data-testid=completion]").first).to_be_visible()
    names = page.locator("[data-testid=completion]").all_inner_texts()
    field.fill("")
    return names


def test_compose_the_constructs_by_form(page, server, alice, shot):
    workflow = save_workflow(alice, START)
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()

    # a switch from the palette's Enter; its expression and cases by form
    palette_enter(page, "switch")
    route = page.locator(".card[data-id=route]")
    expect(route).to_be_visible()
    props(page).get_by_label("switch", exact=True).fill("${inputs.kind}")
    props(page).get_by_label("case a", exact=True).fill("invoice")
    expect(route.locator("[data-case=invoice]")).to_be_visible()
    props(page).get_by_role("button", name="+ case").click()
    expect(route.locator("[data-testid=lane-case]")).to_have_count(3)
    props(page).get_by_role("button", name="Remove case b").click()
    assert constructs_violations(page) == []  # the switch's form
    expect(route.locator("[data-testid=lane-case]")).to_have_count(2)
    # an empty case clicked is where the palette's Enter adds
    route.locator("[data-case=invoice] .seq").click()
    expect(route.locator("[data-case=invoice] .seq")).to_have_class(re.compile("seq-target"))
    palette_enter(page, "wait")
    expect(route.locator("[data-case=invoice] .card[data-id=wait]")).to_be_visible()
    fill(page, "wait", "Seconds", "0")
    assert "first" in offered(page, props(page).get_by_label("Value (YAML)"))

    # a group made a repeat by form, a step into its empty body
    page.locator("[data-testid=canvas]").click(position={"x": 4, "y": 4})
    palette_enter(page, "group")
    props(page).get_by_label("repeat", exact=True).check()
    props(page).get_by_label("until", exact=True).fill("${loop.index >= 1}")
    props(page).get_by_label("max", exact=True).fill("4")
    props(page).get_by_label("delay", exact=True).fill("1s")
    group = page.locator(".card[data-id=group]")
    expect(group.locator("[data-testid=repeat-max]")).to_contain_text("at most 4 passes · 1s between")
    group.locator("[data-testid=repeat-frame] .seq").click()
    palette_enter(page, "wait")
    fill(page, "wait_2", "Seconds", "0")
    assert "loop.index" in offered(page, props(page).get_by_label("Value (YAML)"))

    # the workflow's concurrency and an on_failure step, by form
    page.locator("[data-testid=canvas]").click(position={"x": 4, "y": 4})
    form = page.locator("[data-testid=concurrency-form]")
    form.get_by_label("limit runs at once").check()
    form.get_by_label("limit", exact=True).fill("2")
    form.get_by_label("when busy").select_option("skip")
    lists = page.locator("[data-testid=lists-form]")
    lists.locator("[data-list=on_failure] select").select_option("wait")
    lists.get_by_role("button", name="Add to on_failure").click()
    expect(page.locator(".workflow-hooks [data-testid=lane-on_failure] .card[data-id=wait_3]")).to_be_visible()
    # the new step's missing parameter is marked on it, in its lane
    expect(page.locator(".card[data-id=wait_3]")).to_have_class(re.compile("has-error"))
    form.scroll_into_view_if_needed()
    shot("workflow-properties")
    assert constructs_violations(page) == []
    fill(page, "wait_3", "Seconds", "0")
    assert {"error.message", "run.status", "first"} <= set(offered(page, props(page).get_by_label("Value (YAML)")))

    # a compensation under the first step, shown unfolded once added
    page.locator(".card[data-id=first] .card-id").click()
    lists.locator("[data-list=compensate] select").select_option("wait")
    lists.get_by_role("button", name="Add to compensate").click()
    expect(page.locator(".card[data-id=first] .card[data-id=wait_4]")).to_be_visible()
    fill(page, "wait_4", "Seconds", "0")
    assert "first" in offered(page, props(page).get_by_label("Value (YAML)"))
    props(page).get_by_label("Value (YAML)").fill("${first}")
    # a compensation's own steps are offered no compensate (the format refuses one)
    expect(page.locator(".card[data-id=wait_4] [data-testid=add-compensate]")).to_have_count(0)
    expect(lists.locator("[data-list=compensate]")).to_have_count(0)

    page.wait_for_timeout(600)
    data = yaml.safe_load(yaml_text(page))
    assert data["concurrency"] == {"limit": 2, "when_busy": "skip"}
    steps = {s["id"]: s for s in data["steps"]}
    assert steps["route"]["switch"] == "${inputs.kind}" and list(steps["route"]["cases"]) == ["invoice", "case_3"]
    assert [s["id"] for s in steps["route"]["cases"]["invoice"]] == ["wait"]
    assert steps["group"]["repeat"] == {"until": "${loop.index >= 1}", "max": 4, "delay": "1s"}
    assert [s["id"] for s in steps["group"]["steps"]] == ["wait_2"]
    assert [s["id"] for s in data["on_failure"]] == ["wait_3"]
    assert steps["first"]["compensate"][0]["with"] == {"seconds": 0, "value": "${first}"}
    shot()
    save(page, 2)

    # deleting the only compensation step takes `compensate` out of the YAML
    page.locator(".card[data-id=wait_4]").focus()
    page.keyboard.press("Delete")
    expect(page.locator(".card[data-id=wait_4]")).to_have_count(0)
    page.wait_for_timeout(300)
    data = yaml.safe_load(yaml_text(page))
    assert "compensate" not in {s["id"]: s for s in data["steps"]}["first"]
