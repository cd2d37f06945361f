"""Webhook triggers: their tokens, and what a ``POST /hooks/<token>/`` may bring in.

The limits live here, where the request enters (the view, builder/hooks_views.py, applies them
in this order, and nothing hostile gets past one to the next):

1. the token: random (``secrets.token_urlsafe``), shown once, stored as its sha256 with its
   last 4 characters as a hint; found by its hash, then compared in constant time; only an
   active webhook row of an enabled workflow whose owner is active answers (else 404). Making
   a new one replaces the hash: the old token stops at once.
2. the body: ``application/json`` only (415), at most ``WORKFLOW_WEBHOOK_MAX_BYTES`` (413, read
   no further), checked against ``X-Signature-256`` when the trigger names a secret (401),
   strict UTF-8 JSON (400) that the engine can store: ``engine.normalize`` refuses NaN,
   Infinity, integers beyond 64 bits, nesting past 100 levels (400).
3. the headers: lower-cased; credentials and signatures (``Authorization``, ``Cookie``, any
   name holding token, secret, key, signature, auth, session, csrf, password or cookie; ``Proxy-*``)
   never reach the run; at most ``MAX_HEADERS`` of them, each value cut to ``MAX_HEADER_VALUE``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets

from django.conf import settings
from django.utils import timezone

from engine import UnstorableValue, normalize

from .models import Trigger

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
SIGNATURE_HEADER = "X-Signature-256"
MAX_HEADERS = 50
MAX_HEADER_VALUE = 1000
#: header names (lower-cased) that carry credentials: dropped whole, or by a part of the name
DROPPED_HEADERS = {"authorization", "cookie", "x-signature-256", "x-hub-signature", "x-hub-signature-256"}
DROPPED_PARTS = ("token", "secret", "key", "signature", "auth", "session", "csrf", "password", "cookie")


class Refused(Exception):
    """The request cannot start a run: ``status`` and ``detail`` are the answer."""

    def __init__(self, status: int, detail: str, **headers: str):
        super().__init__(status, detail)
        self.status, self.detail, self.headers = status, detail, headers


def digest(token: str) -> str:
    """The stored form of a token: its sha256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def make_token(row: Trigger) -> str:
    """Make (or replace) a webhook row's token; the plain token is returned this once."""
    if row.kind != Trigger.Kind.WEBHOOK:
        raise ValueError(f"trigger {row.trigger_id} is a {row.kind}: only webhooks have tokens")
    token = secrets.token_urlsafe(32)
    row.token_hash, row.token_hint, row.token_created_at = digest(token), token[-4:], timezone.now()
    row.save(update_fields=["token_hash", "token_hint", "token_created_at", "updated_at"])
    return token


def find(token: str) -> Trigger | None:
    """The webhook row a token opens, or None (unknown, rotated, inactive, disabled, malformed)."""
    if not isinstance(token, str) or not TOKEN_PATTERN.match(token):
        return None
    wanted = digest(token)
    rows = (Trigger.objects.select_related("workflow__owner")
            .filter(token_hash=wanted, kind=Trigger.Kind.WEBHOOK, active=True,
                    workflow__triggers_enabled=True, workflow__owner__is_active=True)
            .order_by()[:1])  # unordered: the Meta ordering would join and sort for nothing
    row = next(iter(rows), None)
    if row is None or not hmac.compare_digest(row.token_hash.encode(), wanted.encode()):
        return None
    return row


def max_bytes() -> int:
    return int(getattr(settings, "WORKFLOW_WEBHOOK_MAX_BYTES", 256 * 1024))


def check_content_type(value: str | None) -> None:
    """``application/json`` (any parameters, e.g. ``; charset=utf-8``), else 415."""
    kind = (value or "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise Refused(415, "send the body as JSON, with Content-Type: application/json")


def check_length(content_length: str | None) -> None:
    """Refuse a declared Content-Length past the cap before reading anything."""
    limit = max_bytes()
    try:
        declared = int(content_length or 0)
    except ValueError:
        raise Refused(400, "the Content-Length header is not a number") from None
    if declared > limit:
        raise Refused(413, f"the body is over {limit} bytes")


def read_capped(read) -> bytes:
    """At most the cap's bytes from ``read(n)`` (a stream's read); more answers 413."""
    limit = max_bytes()
    raw = read(limit + 1)
    if len(raw) > limit:
        raise Refused(413, f"the body is over {limit} bytes")
    return raw


def check_signature(row: Trigger, raw: bytes, given: str | None, secret_values: dict[str, str]) -> None:
    """When the trigger names a secret: ``X-Signature-256`` must be ``sha256=`` and the hex
    HMAC-SHA256 of the raw body keyed with that secret's value (GitHub's form; the view also
    reads GitHub's own ``X-Hub-Signature-256``), else 401. A
    secret the owner no longer has refuses every request (fail closed)."""
    name = (row.spec or {}).get("secret")
    if not name:
        return
    key = secret_values.get(name)
    if not given or key is None:
        raise Refused(401, f"a valid {SIGNATURE_HEADER} header is required")
    expected = "sha256=" + hmac.new(key.encode("utf-8"), raw, hashlib.sha256).hexdigest()
    # bytes on both sides: compare_digest refuses non-ASCII text, and a header may hold any
    if not hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace")):
        raise Refused(401, f"a valid {SIGNATURE_HEADER} header is required")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_body(raw: bytes):
    """The JSON body as data the engine can store; 400 naming the problem otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, f"the body is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise Refused(400, "the body is empty: send a JSON value (e.g. {})")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise Refused(400, "the body is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, an integer of 4,300+ digits
        raise Refused(400, f"the body is not valid JSON: {str(exc)[:200]}") from None
    try:
        return normalize(value, "body", max_bytes() * 2)
    except UnstorableValue as exc:
        raise Refused(400, str(exc)[:300]) from None


def visible_headers(headers) -> dict[str, str]:
    """``${trigger.headers}``: the request's headers without credentials (see the docstring)."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lower = str(name).lower()
        if lower in DROPPED_HEADERS or lower.startswith("proxy-") or any(p in lower for p in DROPPED_PARTS):
            continue
        if len(kept) >= MAX_HEADERS:
            break
        kept[lower[:100]] = str(value)[:MAX_HEADER_VALUE].replace("\x00", "\ufffd")
    try:
        return normalize(kept, "headers")
    except UnstorableValue:  # cannot happen with text only; never let a header fail the request
        return {}
