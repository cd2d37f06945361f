"""flow/tree.js on every nested list of FORMAT.md (switch cases and default, on_failure, finally,
compensate, repeat), run in Chromium as the editor loads it: kinds, ids, holders, moves,
deletes and the names `${` offers."""

import pytest
import yaml
from playwright.sync_api import expect

from builder.services import save_workflow

from .conftest import login_as
from .constructs_data import ALL

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = """async (text) => {
  const t = await import('/static/flow/tree.js');
  const y = await import('/static/vendor/yaml.js');
  const wf = y.parse(text);
  const by = (id) => t.findById(wf, id);
  const out = {};
  out.kinds = Object.fromEntries(['route', 'poll', 'bookings', 'sign_off', 'flight'].map((id) => [id, t.kindOf(by(id))]));
  out.repeat = t.isRepeat(by('poll'));
  out.ids = [...t.idsOf(wf)].sort();
  out.fresh = t.freshId(wf, 'alert');
  const holder = (id) => { const h = t.findHolder(wf, by(id)); return h && {owner: h.owner.id ?? 'workflow', key: h.ref.key}; };
  out.holders = Object.fromEntries(['book', 'ask', 'check', 'cancel_flight', 'tidy', 'alert', 'cleanup'].map((id) => [id, holder(id)]));
  out.earlier = Object.fromEntries(['book', 'check', 'cancel_flight', 'tidy', 'alert', 'sign_off'].map((id) => [id, t.earlierIds(wf, by(id))]));
  out.contains = t.contains(by('bookings'), by('cancel_flight'));
  // a move from a case into the workflow's finally, and one into a block refused
  const route = by('route');
  out.moved = t.move(wf, {type: 'list', owner: route.cases, key: 'invoice', step: route},
                     {type: 'list', owner: wf, key: 'finally'}, 0, by('book'));
  out.refused = t.move(wf, {type: 'list', owner: wf, key: 'steps'},
                       {type: 'list', owner: route.cases, key: 'receipt', step: route}, 0, route);
  // deleting the last step of a hook or a compensation takes its key away
  t.deleteStep(wf, by('tidy'));
  t.deleteStep(wf, by('cancel_hotel'));
  out.after = wf;
  return out;
}"""


def test_the_tree_sees_every_nested_list(page, server, alice):
    workflow = save_workflow(alice, ALL)
    login_as(page, server, alice)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("body[data-ready=true]")).to_be_attached()
    out = page.evaluate(CHECKS, ALL)
    assert out["kinds"] == {"route": "switch", "poll": "group", "bookings": "parallel", "sign_off": "action", "flight": "action"}
    assert out["repeat"] is True
    assert out["ids"] == sorted(["classify", "route", "book", "file_it", "ask", "poll", "check", "bookings", "flight",
                                 "cancel_flight", "hotel", "cancel_hotel", "tidy", "sign_off", "alert", "cleanup"])
    assert out["fresh"] == "alert_2"
    assert out["holders"] == {
        "book": {"owner": "route", "key": "invoice"}, "ask": {"owner": "route", "key": "default"},
        "check": {"owner": "poll", "key": "steps"}, "cancel_flight": {"owner": "flight", "key": "compensate"},
        "tidy": {"owner": "bookings", "key": "finally"}, "alert": {"owner": "workflow", "key": "on_failure"},
        "cleanup": {"owner": "workflow", "key": "finally"}}
    earlier = out["earlier"]
    assert earlier["book"] == ["classify"]  # a case sees what ran before the switch
    assert earlier["check"] == ["classify", "route", "loop.index"]  # not the cases' steps
    assert earlier["cancel_flight"] == ["classify", "route", "poll", "check", "flight"]  # the step being undone
    assert set(earlier["tidy"]) >= {"flight", "hotel", "error.step", "error.message", "run.status"}
    assert set(earlier["alert"]) >= {"classify", "route", "poll", "bookings", "sign_off", "error.message", "run.status"}
    assert "book" not in earlier["sign_off"] and "cancel_flight" not in earlier["sign_off"]
    assert out["contains"] is True and out["moved"] is True and out["refused"] is False
    after = out["after"]
    steps = {s["id"]: s for s in after["steps"]}
    assert steps["route"]["cases"]["invoice"] == [] and after["finally"][0]["id"] == "book"
    assert "finally" not in steps["bookings"] and "compensate" not in steps["bookings"]["parallel"][1]
    assert yaml.safe_load(ALL)["steps"][1]["cases"]["invoice"][0]["id"] == "book"
