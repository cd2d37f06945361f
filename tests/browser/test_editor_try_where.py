"""Where "Try" is offered: a step of the run's own flow, not one inside a foreach (it runs once
per item: its block is tried), nor a hook — the server refuses those, so the card says why
instead of showing a button that fails."""

import pytest
from playwright.sync_api import expect

from builder.services import save_workflow

from .conftest import login_as
from .test_editor_defects import open_editor
from .test_editor_lastrun import finished_run

pytestmark = pytest.mark.django_db(transaction=True)

FLOW = """version: 1
name: where-to-try
steps:
  - {id: first, uses: wait, with: {seconds: 0, value: [1, 2]}}
  - id: each
    foreach: ${first}
    steps:
      - {id: inner, uses: wait, with: {seconds: 0, value: "${item}"}}
finally:
  - {id: tidy, uses: wait, with: {seconds: 0, value: done}}
"""


def test_try_is_offered_only_where_a_step_can_be_tried_alone(page, server, alice):
    workflow = save_workflow(alice, FLOW)
    login_as(page, server, alice)
    finished_run(page, server, workflow)
    open_editor(page, server, workflow)
    for offered in ("first", "each"):
        expect(page.locator(f".card[data-id={offered}] > [data-testid=last-run] [data-testid=try-step]")).to_have_count(1)
    for refused, why in (("inner", "tried with its block"), ("tidy", "not tried alone")):
        line = page.locator(f".card[data-id={refused}] > [data-testid=last-run]")
        expect(line).to_be_attached()
        expect(line.get_by_test_id("try-step")).to_have_count(0)
        assert why in line.locator(".status").get_attribute("title")
