"""``http``: one request with httpx, safe by default.

One ``AsyncClient`` per run (pooled, keep-alive). Hosts that resolve to private, loopback,
link-local or other special addresses are refused unless ``EngineSettings.extra["http_allow"]``
names the host or its network; the check runs after DNS resolution and again on every
redirect (redirects are followed here, one hop at a time). Response bodies are capped.
Failures that may pass (connection errors, 429, 5xx) are retryable; ``Retry-After`` is honoured.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import time
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import Field, model_validator

from ..errors import ActionError
from ..spec import Duration
from .base import Action, Params

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_REDIRECTS = 10


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
    host_concurrency: int | None = Field(default=None, ge=1, description="requests in flight to this host at most")
    rate_limit: float | None = Field(default=None, gt=0, description="requests a second to this host at most")

    @model_validator(mode="after")
    def _one_body(self):
        if sum(x is not None for x in (self.json_, self.form, self.text)) > 1:
            raise ValueError("give at most one of json, form and text")
        return self


class Refused(ActionError):
    """The URL points somewhere the server may not call."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class Http(Action):
    name = "http"
    title = "HTTP request"
    description = "Call a URL; returns {status, headers, body}."
    category = "Network"
    Params = HttpParams
    output_schema = {"type": "object",
                     "properties": {"status": {"type": "integer"}, "headers": {"type": "object"}, "body": {}}}

    async def run(self, params: HttpParams, ctx) -> dict:
        import httpx

        extra = ctx.settings.extra
        state = _state(ctx)
        url = str(httpx.URL(params.url).copy_merge_params(params.params)) if params.params else params.url
        max_bytes = int(extra.get("http_max_bytes", DEFAULT_MAX_BYTES))
        deadline = time.monotonic() + params.timeout
        method, body = params.method, _body(params)
        for _hop in range(MAX_REDIRECTS + 1):
            host = urlsplit(url).hostname or ""
            await check_host(host, extra.get("http_allow", ()), ctx.services.get("resolve"))
            async with state.limit(host, params.host_concurrency or extra.get("http_host_concurrency"),
                                   params.rate_limit or extra.get("http_rate_limit")):
                response = await _send(state.client, method, url, params, body, deadline, max_bytes)
            if params.follow_redirects and response["status"] in (301, 302, 303, 307, 308) and \
                    response["location"]:
                url = urljoin(url, response["location"])
                if response["status"] == 303 or (response["status"] in (301, 302) and method == "POST"):
                    method, body = "GET", {}
                continue
            return _outcome(response, params)
        raise ActionError(f"more than {MAX_REDIRECTS} redirects", retryable=False)


def _body(params: HttpParams) -> dict:
    if params.json_ is not None:
        return {"json": params.json_}
    if params.form is not None:
        return {"data": params.form}
    if params.text is not None:
        return {"content": params.text.encode()}
    return {}


async def _send(client, method, url, params, body, deadline, max_bytes) -> dict:
    import httpx

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise ActionError(f"timed out after {params.timeout:g} s")
    try:
        async with asyncio.timeout(remaining):
            async with client.stream(method, url, headers=params.headers, timeout=remaining, **body) as response:
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise ActionError(f"the response is over the {max_bytes} byte cap", retryable=False)
                    chunks.append(chunk)
                return {"status": response.status_code, "headers": dict(response.headers),
                        "content": b"".join(chunks), "location": response.headers.get("location"),
                        "encoding": response.encoding or "utf-8"}
    except TimeoutError:
        raise ActionError(f"timed out after {params.timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise ActionError(f"{type(exc).__name__}: {exc or 'connection failed'} ({urlsplit(url).netloc})") from None


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


# -- where requests may go -------------------------------------------------------------------------
async def check_host(host: str, allow, resolve=None) -> None:
    """Refuse a host that is, or resolves to, a private or special address, unless allowed."""
    allow = list(allow or ())
    if host in allow:
        return
    if resolve is not None:
        addresses = await resolve(host)
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ActionError(f"cannot resolve {host}: {exc.strerror}") from None
        addresses = sorted({info[4][0] for info in infos})
    networks = [ipaddress.ip_network(a, strict=False) for a in allow if _is_network(a)]
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if _special(ip) and not any(ip in net for net in networks):
            raise Refused(f"refused: {host} resolves to {ip}, a {_kind(ip)} address; allow it with the "
                          f"http_allow setting (WORKFLOW_HTTP_ALLOW)")


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _special(ip) -> bool:
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _kind(ip) -> str:
    for attr, word in (("is_loopback", "loopback"), ("is_link_local", "link-local"), ("is_private", "private"),
                       ("is_multicast", "multicast"), ("is_reserved", "reserved")):
        if getattr(ip, attr):
            return word
    return "non-public"


# -- per-run client and per-host limits ---------------------------------------------------------------
class _State:
    """The run's shared client, and a concurrency cap and token bucket per host."""

    def __init__(self):
        import httpx

        self.client = httpx.AsyncClient(follow_redirects=False, http2=False,
                                        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        self.hosts: dict[str, _Host] = {}

    def limit(self, host: str, concurrency, rate):
        entry = self.hosts.get(host)
        if entry is None:
            entry = self.hosts[host] = _Host(concurrency, rate)
        return entry

    async def aclose(self) -> None:
        await self.client.aclose()


class _Host:
    def __init__(self, concurrency, rate):
        self.sem = asyncio.Semaphore(int(concurrency)) if concurrency else None
        self.rate = float(rate) if rate else None
        self.tokens = self.rate or 0.0
        self.updated = time.monotonic()

    async def __aenter__(self):
        if self.rate:
            await self._token()
        if self.sem is not None:
            await self.sem.acquire()

    async def __aexit__(self, *exc):
        if self.sem is not None:
            self.sem.release()

    async def _token(self) -> None:
        while True:
            now = time.monotonic()
            self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            await asyncio.sleep((1 - self.tokens) / self.rate)


def _state(ctx) -> _State:
    resources = ctx.services.setdefault("resources", {})
    state = resources.get("http")
    if state is None:
        state = resources["http"] = _State()
    return state
