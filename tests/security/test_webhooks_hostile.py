"""Hostile webhook requests: whatever a caller sends to ``/hooks/<token>/``, the answer is a 4xx
with a reason (never a 500), no run is made, and the token never reaches a log."""

import hashlib
import hmac
import json
import logging

import pytest
from django.test import Client

from builder import webhooks
from builder.models import Run, Secret, Trigger
from builder.services import save_workflow
from builder.webhooks import Refused, parse_body, visible_headers

KEY = "hostile-key"
HOOKED = """name: hooked
triggers:
  - {id: open, webhook: true, inputs: {n: "${trigger.body.n}"}}
  - {id: signed, webhook: true, secret: HOOK_KEY}
inputs:
  n: {type: integer, default: 0}
steps:
  - {id: a, uses: wait, with: {seconds: 0}}
"""


@pytest.fixture
def tokens(alice):
    Secret.objects.create(owner=alice, name="HOOK_KEY", value=KEY)
    workflow = save_workflow(alice, HOOKED)
    return {row.trigger_id: webhooks.make_token(row) for row in Trigger.objects.filter(workflow=workflow)}


def post(token: str, raw: bytes, content_type="application/json", **extra):
    return Client().generic("POST", f"/hooks/{token}/", raw, content_type=content_type, **extra)


def refused(raw: bytes) -> str:
    with pytest.raises(Refused) as caught:
        parse_body(raw)
    assert caught.value.status == 400
    return caught.value.detail


# -- the body: parse_body is the door --------------------------------------------------------------
def test_deep_nesting_is_refused_without_a_crash():
    assert "nested" in refused(b"[" * 200_000 + b"]" * 200_000)
    assert "nested deeper than 100" in refused(b"[" * 150 + b"]" * 150)
    assert "nested deeper than 100" in refused(b'{"a":' * 150 + b"1" + b"}" * 150)
    assert parse_body(b"[" * 50 + b"]" * 50) is not None


def test_numbers_json_cannot_hold_are_refused():
    assert "not valid JSON" in refused(b"[NaN]")
    assert "not valid JSON" in refused(b'{"a": Infinity}')
    assert "not valid JSON" in refused(b"-Infinity")
    assert "beyond 64 bits" in refused(b"[" + b"9" * 30 + b"]")
    assert refused(b"1" * 5000)  # Python's own 4,300-digit limit: a 400 too
    assert parse_body(b"1e308") == 1e308
    assert "JSON cannot hold" in refused(b"1e999")  # overflows to inf: refused as NaN is


def test_text_that_is_not_utf8_or_not_json_is_refused():
    assert "not UTF-8" in refused(b'{"a": "\xff\xfe"}')
    assert "not UTF-8" in refused(b'"\xed\xa0\x80"')  # an encoded surrogate
    assert "not valid JSON" in refused(b"\x00")
    assert "empty" in refused(b"")
    assert "not valid JSON" in refused(b"{'a': 1}")


def test_nul_and_lone_surrogates_inside_strings_become_replacement_characters():
    # PostgreSQL's JSON refuses \u0000, and a lone surrogate cannot be encoded: both are replaced
    assert parse_body(b'{"a\\u0000": "\\ud800x\\u0000"}') == {"a\ufffd": "\ufffdx\ufffd"}


def test_many_or_long_headers_are_capped():
    many = {f"X-H{i}": "v" * 5000 for i in range(500)}
    kept = visible_headers(many)
    assert len(kept) == webhooks.MAX_HEADERS and all(len(v) == webhooks.MAX_HEADER_VALUE for v in kept.values())
    assert visible_headers({"X-Secret-Thing": "1", "Set-Cookie": "2", "Proxy-Foo": "3", "X-A": "\x00"}) == {
        "x-a": "\ufffd"}


# -- the view ---------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_hostile_requests_are_4xx_and_make_no_run(tokens):
    token = tokens["open"]
    assert post(token, b"[" * 100_000).status_code == 400
    assert post(token, b'{"n": ' + b"9" * 4000 + b"}").status_code == 400
    assert post(token, b'\xff{"n": 1}').status_code == 400
    assert post(token, b"{}", content_type="application/jsonp").status_code == 415
    assert post(token, b"{}", content_type="application/json; charset=utf-8", CONTENT_LENGTH="x").status_code == 400
    assert post(token, b'{"n": {"deep": 1}}').status_code == 422
    assert post("A" * 10_000, b"{}").status_code == 404
    assert Client().post("/hooks/%00%2F..%2F/", data=b"{}", content_type="application/json").status_code == 404
    signed = tokens["signed"]
    assert post(signed, b"{}", HTTP_X_SIGNATURE_256="sha256=\u00e9\u00e9").status_code == 401
    assert post(signed, b"{}", HTTP_X_SIGNATURE_256="x" * 100_00).status_code == 401
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_a_signature_must_match_in_every_character(tokens):
    raw = b'{"n": 1}'
    good = "sha256=" + hmac.new(KEY.encode(), raw, hashlib.sha256).hexdigest()
    for bad in (good[:-1], good[:-1] + ("0" if good[-1] != "0" else "1"), good.upper(), good + "0", " "):
        assert post(tokens["signed"], raw, HTTP_X_SIGNATURE_256=bad).status_code == 401, bad
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_the_token_never_reaches_a_log(tokens, caplog, settings):
    settings.WORKFLOW_WEBHOOK_RATE = "3/hour"
    settings.WORKFLOW_WEBHOOK_MAX_BYTES = 10
    token = tokens["signed"]
    guessed = token[:-2] + "zz"
    caplog.set_level(logging.DEBUG)
    answers = [post(guessed, b"{}").status_code, post(token, b"{}", content_type="text/plain").status_code,
               post(token, b"{}").status_code, post(token, json.dumps({"a": "x" * 20}).encode()).status_code,
               post(token, b"{}").status_code]
    assert answers == [404, 415, 401, 413, 429]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in logged and guessed not in logged and token[:20] not in logged


@pytest.mark.django_db
def test_a_token_is_stored_only_as_its_hash(tokens):
    for trigger_id, token in tokens.items():
        row = Trigger.objects.get(trigger_id=trigger_id)
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and row.token_hint == token[-4:]
        assert len(token) >= 43 and token not in json.dumps(row.spec)
    assert len(set(tokens.values())) == len(tokens)
