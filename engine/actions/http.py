"""``http``: one request with httpx, safe by default.

One ``AsyncClient`` per run (pooled, keep-alive). Where requests may go is ``netguard``'s job:
each hop's host is resolved once and every address checked (private, loopback, link-local and
other special addresses are refused unless ``EngineSettings.extra["http_allow"]`` allows them),
and the connection goes to a checked address only. Redirects are followed here, one hop at a
time; once a redirect leaves the first URL's origin, ``Authorization``, ``Cookie``,
``Proxy-Authorization`` and every header holding one of the run's secrets stay behind. The
client keeps no cookie jar, so a cookie goes only where the workflow sends it. Response bodies
are capped. Failures that may pass (connection errors, 429, 5xx) are retryable; ``Retry-After``
is honoured.

``host_concurrency`` and ``rate_limit`` are global (engine/throttle.py): every run of the
process, or of every worker with the builder's celery mode, shares them; steps that give the
same value for the same host share one limit (another value is another limit, so a workflow
cannot slow others' requests by asking for a tiny one). Time queued for them is neither the
step's work nor part of ``timeout``, which counts the request's own time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Literal
from urllib.parse import quote, quote_plus

from pydantic import Field, model_validator

from .. import throttle
from ..errors import ActionError
from ..spec import Duration
from .base import Action, Params
from .httppool import read_capped
from .netguard import Refused, check_host, pinned_transport

__all__ = ["Http", "HttpParams", "Refused", "check_host"]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 10
# headers that never follow a redirect to another origin (Host: httpx sets the new one)
LEFT_BEHIND = frozenset({"authorization", "cookie", "proxy-authorization", "host"})


class HttpParams(Params):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = "GET"
    url: str = Field(pattern=r"^https?://", description="http:// or https:// URL")
    params: dict[str, Any] = Field(default_factory=dict, description="query string parameters")
    headers: dict[str, str] = Field(default_factory=dict)
    json_: Any = Field(default=None, alias="json", description="a JSON body")
    form: dict[str, Any] | None = Field(default=None, description="a form-encoded body")
    text: str | None = Field(default=None, description="a plain text body")
    timeout: Duration = Field(default=30.0, description="seconds for the whole request")
    expect: list[int] | None = Field(default=None, description="status codes that count as success (default 2xx)")
    response: Literal["auto", "json", "text"] = Field(default="auto", description="how to read the body")
    follow_redirects: bool = True
    host_concurrency: int | None = Field(default=None, ge=1,
                                         description="requests in flight to this host at most, across every run")
    rate_limit: float | None = Field(default=None, gt=0, allow_inf_nan=False,
                                     description="requests a second to this host at most, across every run")

    @model_validator(mode="after")
    def _one_body(self):
        if sum(x is not None for x in (self.json_, self.form, self.text)) > 1:
            raise ValueError("give at most one of json, form and text")
        return self


class Http(Action):
    name = "http"
    title = "HTTP request"
    description = "Call a URL; returns {status, headers, body}."
    category = "Network"
    Params = HttpParams
    output_schema = {"type": "object",
                     "properties": {"status": {"type": "integer"}, "headers": {"type": "object"}, "body": {}}}

    async def run(self, params: HttpParams, ctx) -> dict:
        extra = ctx.settings.extra
        state = _state(ctx)
        url = _url(params.url, params.params)
        origin, headers = _origin(url), dict(params.headers)
        secrets = ctx.services.get("secret_values", ())
        max_bytes = int(extra.get("http_max_bytes", DEFAULT_MAX_BYTES))
        clock = _Clock(params.timeout, ctx)
        method, body = params.method, _body(params)
        concurrency = params.host_concurrency or extra.get("http_host_concurrency")
        rate = params.rate_limit or extra.get("http_rate_limit")
        for _hop in range(MAX_REDIRECTS + 1):
            host = url.raw_host.decode("ascii")
            state.pins[host] = await check_host(host, extra.get("http_allow", ()), ctx.services.get("resolve"))
            async with throttle.turn(ctx, *_limits(host.lower(), concurrency, rate)):
                response = await _send(state.client, method, url, headers, params, body, clock.left(), max_bytes)
            if params.follow_redirects and response["status"] in (301, 302, 303, 307, 308) and \
                    response["location"]:
                url = _url(response["location"], base=url)
                if response["status"] == 303 or (response["status"] in (301, 302) and method == "POST"):
                    method, body = "GET", {}
                if _origin(url) != origin:  # left the first origin: credentials stay behind, for good
                    origin, headers = None, _without_credentials(headers, secrets)
                    if body and _holds_secret(_body_text(body), secrets):
                        raise Refused(f"refused: a redirect to {url.host} would re-send a body holding "
                                      f"a secret")
                continue
            return _outcome(response, params)
        raise ActionError(f"more than {MAX_REDIRECTS} redirects", retryable=False)


def _limits(host: str, concurrency, rate) -> tuple[list, list]:
    """The host's global limits as ``throttle.turn`` takes them (keyed by host and value)."""
    slots = [(("http-host", host, str(int(concurrency))), int(concurrency))] if concurrency else []
    rates = [(("http-rate", host, repr(float(rate))), float(rate))] if rate else []
    return slots, rates


class _Clock:
    """The request's own time (``timeout``): what the action spent, less what it spent queued."""

    __slots__ = ("timeout", "ctx", "start", "waited")

    def __init__(self, timeout: float, ctx):
        self.timeout, self.ctx = timeout, ctx
        self.start, self.waited = time.monotonic(), ctx.waited

    def left(self) -> float:
        return self.timeout - (time.monotonic() - self.start - (self.ctx.waited - self.waited))


def _url(text: str, query: dict | None = None, base=None):
    """Parse once with httpx, so the host checked is the host httpx connects to."""
    import httpx

    try:
        url = base.join(text) if base is not None else httpx.URL(text)
        url = url.copy_merge_params(query) if query else url
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ActionError(f"invalid URL {text[:200]!r}: {exc}", retryable=False) from None
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise Refused(f"refused: {text[:200]!r} is not an http:// or https:// URL with a host")
    return url


def _body_text(body: dict) -> str:
    if "content" in body:
        return body["content"].decode(errors="replace")
    return json.dumps(body, default=str) + json.dumps(body, default=str, ensure_ascii=False)


def _origin(url) -> tuple:
    return url.scheme, url.raw_host.lower(), url.port or (443 if url.scheme == "https" else 80)


def _without_credentials(headers: dict, secrets) -> dict:
    """The headers that may follow a redirect to another origin."""
    return {k: v for k, v in headers.items()
            if k.lower() not in LEFT_BEHIND and not _holds_secret(f"{k}\n{v}", secrets)}


def _holds_secret(text: str, secrets) -> bool:
    return any(form in text for secret in secrets for form in _secret_forms(secret))


def _secret_forms(secret: str) -> set[str]:
    """The secret as written, URL-encoded, JSON-escaped and base64-encoded (at any byte offset)."""
    if len(secret) < 4:  # as redaction: shorter values would match ordinary text
        return set()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    raw = secret.encode()
    for offset in range(3):  # base64 of a longer text holds one of these three runs of the secret
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        start, end = -(-offset * 4 // 3), (offset + len(raw)) * 4 // 3
        core = encoded[start:end]
        if len(core) >= 4:
            forms |= {core, core.replace("+", "-").replace("/", "_")}
    return forms


def _body(params: HttpParams) -> dict:
    if params.json_ is not None:
        return {"json": params.json_}
    if params.form is not None:
        return {"data": params.form}
    if params.text is not None:
        return {"content": params.text.encode()}
    return {}


async def _send(client, method, url, headers, params, body, remaining, max_bytes) -> dict:
    import httpx

    if remaining <= 0:
        raise ActionError(f"timed out after {params.timeout:g} s")
    try:
        async with asyncio.timeout(remaining):
            async with client.stream(method, url, headers=headers, timeout=remaining, **body) as response:
                content = await read_capped(response, max_bytes, f"the response is over the {max_bytes} byte cap")
                return {"status": response.status_code, "headers": dict(response.headers),
                        "content": content, "location": response.headers.get("location"),
                        "encoding": response.encoding or "utf-8"}
    except TimeoutError:
        raise ActionError(f"timed out after {params.timeout:g} s") from None
    except httpx.HTTPError as exc:
        where = url.netloc.decode("ascii", "replace")
        raise ActionError(f"{type(exc).__name__}: {exc or 'connection failed'} ({where})") from None


def _outcome(response: dict, params: HttpParams) -> dict:
    status = response["status"]
    body = _decode(response, params.response)
    ok = status in params.expect if params.expect is not None else 200 <= status < 300
    if not ok:
        retry_after = response["headers"].get("retry-after")
        error = ActionError(f"HTTP {status}: {str(body)[:200]}", retryable=status == 429 or status >= 500)
        if retry_after and retry_after.isdigit():
            error.retry_after = float(retry_after)
        raise error
    return {"status": status, "headers": response["headers"], "body": body}


def _decode(response: dict, mode: str):
    text = response["content"].decode(response["encoding"], errors="replace")
    content_type = response["headers"].get("content-type", "")
    if mode == "json" or (mode == "auto" and "json" in content_type):
        try:
            return json.loads(text) if text else None
        except ValueError:
            if mode == "json":
                raise ActionError(f"the response is not JSON: {text[:100]!r}", retryable=False) from None
    return text


# -- the per-run client --------------------------------------------------------------------------------
class _State:
    """The run's shared client and the addresses checked per host."""

    def __init__(self):
        import httpx

        self.pins: dict[str, tuple[str, ...]] = {}  # host -> the addresses checked for it
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        # trust_env=False: no ~/.netrc passwords, no proxy from the environment; no cookie jar
        self.client = httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                        transport=pinned_transport(self.pins, limits),
                                        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))

    async def aclose(self) -> None:
        await self.client.aclose()


def _state(ctx) -> _State:
    resources = ctx.services.setdefault("resources", {})
    state = resources.get("http")
    if state is None:
        state = resources["http"] = _State()
    return state
