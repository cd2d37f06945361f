"""The workflow list's Triggers column: each workflow's current triggers and its on/off switch."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from builder.services import save_workflow

pytestmark = pytest.mark.django_db

STEPS = "steps:\n  - id: a\n    uses: wait\n    with: {seconds: 0}\n"


def with_triggers(name: str, ids: list[str]) -> str:
    lines = [f'  - {{id: {i}, schedule: "0 2 * * *"}}' if i.startswith("s") else f"  - {{id: {i}, webhook: true}}"
             for i in ids]
    return f"name: {name}\ntriggers:\n" + "\n".join(lines) + "\n" + STEPS


def test_the_list_shows_the_current_triggers_and_a_switch(alice, alice_client):
    hooked = save_workflow(alice, with_triggers("hooked", ["s_nightly", "w_ci"]))
    save_workflow(alice, with_triggers("many", ["s1", "s2", "s3", "s4", "w5"]))
    save_workflow(alice, f"name: plain\n{STEPS}")
    hooked.triggers_enabled = False
    hooked.save(update_fields=["triggers_enabled"])
    html = alice_client.get("/").content.decode()
    row = re.search(rf'<tr data-workflow="{hooked.pk}">.*?</tr>', html, re.S).group(0)
    clock = 'data-mark="schedule"><path'
    assert re.search(r'data-mark="schedule">.*?</svg> s_nightly · ⚡ w_ci', row) and "⏰" not in html
    switch = re.search(r"<input[^>]*data-triggers-switch[^>]*>", row).group(0)
    assert "checked" not in switch and 'aria-label="Triggers of hooked"' in switch
    assert re.search(r"</svg> s1 · <svg.*?</svg> s2 · <svg.*?</svg> s3 · \+2", html), "a long list is cut after three"
    assert html.count(clock) == 4
    assert html.count("data-triggers-switch") == 2, "no switch for a workflow without triggers"


def test_a_removed_trigger_leaves_the_list(alice, alice_client):
    workflow = save_workflow(alice, with_triggers("hooked", ["s_nightly", "w_ci"]))
    save_workflow(alice, with_triggers("hooked", ["w_ci"]), "no schedule", workflow)
    html = alice_client.get("/").content.decode()
    assert "⚡ w_ci" in html and "s_nightly" not in html


def test_the_column_costs_one_query_however_many_workflows(alice, alice_client):
    save_workflow(alice, with_triggers("one", ["s1"]))
    with CaptureQueriesContext(connection) as few:
        alice_client.get("/")
    for n in range(5):
        save_workflow(alice, with_triggers(f"more{n}", ["s1", "w2"]))
    with CaptureQueriesContext(connection) as many:
        assert alice_client.get("/").content.decode().count("data-triggers-switch") == 6
    assert len(many) == len(few)
