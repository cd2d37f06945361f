"""``POST /hooks/<token>/``: a webhook starts a run (builder/webhooks.py holds the limits).

CSRF-exempt: the token in the path is the credential. The answers, in the order they are
decided: 404 (no such token, rotated, the trigger removed or the workflow's triggers off),
429 with ``Retry-After`` (``WORKFLOW_WEBHOOK_RATE`` per token), 415, 413, 401 (signature), 400
(the body), 422 (no run can be made: the trigger's inputs or the workflow's), else 202 with
``{"run", "url", "status"}`` once the run is queued (``skipped`` when the workflow's
concurrency limit skipped it). Never a 500 for what a caller sends; a database that is busy
answers 503 with ``Retry-After``.

Rate limit: a fixed-window counter per token (its hash), ``N/second|minute|hour``. Embedded:
in this process (one process serves the site). Celery mode: in Redis (``INCR`` of a key per
token and window, expiring with it), shared by every web process; when Redis cannot be
reached the request is let through (and logged): the limit protects the workers, it is not
what authenticates.

The token never reaches a log: Django's "Not Found: /hooks/…" lines are not written for these
answers (``_has_been_logged``); what is logged names the trigger or the token's last 4
characters.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from engine import InputsInvalid

from . import execution, webhooks
from .models import Origin, Run
from .runtime import secrets_for
from .services import Invalid, create_run
from .triggers import TriggerInputsInvalid, trigger_inputs
from .webhooks import Refused

log = logging.getLogger(__name__)
PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(text: str) -> tuple[int, int] | None:
    """``"60/min"`` → (60, 60): requests a window, the window's seconds; ``""`` or ``0``: no limit."""
    text = (text or "").strip().lower()
    if text in ("", "0", "off", "none"):
        return None
    count, _, period = text.partition("/")
    seconds = PERIODS.get(period.strip() or "min")
    if seconds is None or not count.strip().isdigit():
        raise ValueError(f"WORKFLOW_WEBHOOK_RATE must be like 60/min, not {text!r}")
    return (int(count), seconds) if int(count) > 0 else None


class LocalCounter:
    """Fixed windows in this process (embedded mode)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.windows: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, window: int, seconds: int) -> int:
        with self.lock:
            if len(self.windows) > 10_000:  # forget ended windows
                self.windows = {k: v for k, v in self.windows.items() if v[0] == window}
            start, count = self.windows.get(key, (window, 0))
            count = count + 1 if start == window else 1
            self.windows[key] = (window, count)
            return count


class RedisCounter:
    """Fixed windows in Redis (celery mode): one key per token and window."""

    def __init__(self, url: str, prefix: str):
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self.prefix = prefix

    def hit(self, key: str, window: int, seconds: int) -> int:
        name = f"{self.prefix}webhook:{key}:{window}"
        pipe = self.client.pipeline()
        pipe.incr(name)
        pipe.expire(name, seconds + 1)
        return int(pipe.execute()[0])


_COUNTER: LocalCounter | RedisCounter | None = None


def counter():
    global _COUNTER
    if _COUNTER is None:
        if settings.WORKFLOW_EXECUTION == "celery":
            _COUNTER = RedisCounter(settings.REDIS_URL, settings.WORKFLOW_REDIS_PREFIX)
        else:
            _COUNTER = LocalCounter()
    return _COUNTER


def check_rate(token_hash: str) -> None:
    """Count one request for this token; 429 with Retry-After past the limit."""
    rate = parse_rate(getattr(settings, "WORKFLOW_WEBHOOK_RATE", "60/min"))
    if rate is None:
        return
    limit, seconds = rate
    now = time.time()
    window = int(now // seconds)
    try:
        count = counter().hit(token_hash[:32], window, seconds)
    except Exception as exc:  # noqa: BLE001 - Redis down: let it through, say so
        log.warning("webhook rate limit not checked: %s", exc)
        return
    if count > limit:
        wait = max(1, math.ceil((window + 1) * seconds - now))
        raise Refused(429, f"over {limit} requests in {seconds} s for this webhook: try again later",
                      **{"Retry-After": str(wait)})


def receive(request, token: str) -> Run:
    """Check everything the request brings (module docstring) and make its run (queued)."""
    row = webhooks.find(token)
    if row is None:
        raise Refused(404, "Not Found")
    check_rate(row.token_hash)
    webhooks.check_content_type(request.META.get("CONTENT_TYPE"))
    webhooks.check_length(request.META.get("CONTENT_LENGTH"))
    raw = webhooks.read_capped(request.read)
    owner = row.workflow.owner
    if (row.spec or {}).get("secret"):
        given = request.headers.get(webhooks.SIGNATURE_HEADER) or request.headers.get("X-Hub-Signature-256")
        webhooks.check_signature(row, raw, given, secrets_for(owner))
    data = {"id": row.trigger_id, "kind": "webhook", "body": webhooks.parse_body(raw),
            "headers": webhooks.visible_headers(request.headers)}
    try:
        inputs = trigger_inputs(row, data)
        return create_run(row.workflow, owner, inputs, origin=Origin.WEBHOOK,
                          origin_detail={"trigger": row.trigger_id})
    except TriggerInputsInvalid as exc:
        raise Refused(422, str(exc)[:1000]) from None
    except InputsInvalid as exc:
        raise Refused(422, ("the run's inputs are not valid: " + "; ".join(exc.problems))[:1000]) from None
    except Invalid as exc:
        raise Refused(422, "the workflow is not valid: " + "; ".join(
            f"{i.path}: {i.message}" for i in exc.issues[:5])[:1000]) from None


def _answer(status: int, body: dict, headers: dict | None = None) -> JsonResponse:
    response = JsonResponse(body, status=status, headers=headers or {})
    response._has_been_logged = True  # Django would log the path, and so the token
    return response


@csrf_exempt
async def hook(request, token: str):
    """Start the webhook's run: 202 with its id and page, or the reason it was refused."""
    if request.method != "POST":
        return _answer(405, {"detail": "use POST"}, {"Allow": "POST"})
    try:
        run = await sync_to_async(receive)(request, token)
    except Refused as exc:
        return _answer(exc.status, {"detail": exc.detail}, exc.headers)
    except DatabaseError as exc:
        log.warning("webhook …%s: the database refused: %s", token[-4:], exc)
        return _answer(503, {"detail": "busy: try again"}, {"Retry-After": "1"})
    except Exception:  # a bug: logged without the token, answered without the traceback
        log.exception("webhook …%s failed", token[-4:])
        return _answer(500, {"detail": "internal server error"})
    if run.status == Run.Status.QUEUED:
        execution.schedule(run.pk)
    return _answer(202, {"run": run.pk, "url": f"/runs/{run.pk}/", "status": run.status})
