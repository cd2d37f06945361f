"""``llm``: a chat completion from any OpenAI-compatible endpoint (``POST .../chat/completions``).

Connections come from ``EngineSettings.extra["llm_connections"]``: ``{name: {"base_url",
"api_key", "model"}}`` — keys never appear in a workflow. With ``output_schema`` the reply is
asked for as JSON, parsed and validated; a reply that does not fit is a (retryable) error.

The call is one POST with httpx, not the ``openai`` package: importing that took 0.4–0.9 s
(the first llm step of a process paid it) and its request and reply models ~0.16 ms of CPU a
call, for a protocol of one JSON object each way. Errors read as before: ``HTTP <status>:
<the error's message>`` (429 and 5xx retryable), ``timed out after``, ``cannot connect``.
"""

from __future__ import annotations

import asyncio
import json
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Literal

import jsonschema
import orjson
from pydantic import BaseModel, Field, model_validator

from ..errors import ActionError
from ..redaction import Redactor
from ..spec import Duration
from .base import Action, Params, connection_problem
from .httppool import pooled_transport, read_capped

#: the most bytes a reply may have (a chat completion is kilobytes; a broken endpoint is not)
MAX_REPLY = 16 * 1024 * 1024


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class LlmParams(Params):
    connection: str = Field(default="default", description="a model connection configured on the server")
    model: str | None = Field(default=None, description="the model; the connection's default if absent")
    prompt: str | None = Field(default=None, description="the user message", json_schema_extra={"format": "textarea"})
    system: str | None = Field(default=None, description="the system message")
    messages: list[Message] | None = Field(default=None, description="a whole conversation instead of prompt")
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    output_schema: dict | None = Field(default=None, description="JSON Schema the reply must match")
    timeout: Duration = Field(default=120.0)

    @model_validator(mode="after")
    def _prompt_or_messages(self):
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give either prompt (with an optional system) or messages")
        return self


class Llm(Action):
    name = "llm"
    title = "Language model"
    description = "Ask a chat model; with output_schema the answer is validated JSON."
    category = "AI"
    Params = LlmParams
    output_schema = {"type": "object", "properties": {
        "text": {"type": "string"}, "data": {}, "usage": {"type": "object"}, "model": {"type": "string"}}}

    def check(self, raw, settings):
        problems = super().check(raw, settings)
        problem = connection_problem(raw, settings, "llm_connections", "model connection", "default")
        if problem:
            problems.append(problem)
        schema = raw.get("output_schema") if isinstance(raw, dict) else None
        if isinstance(schema, dict):
            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as exc:
                problems.append((("output_schema",), f"not a valid JSON Schema: {exc.message}"))
        return problems

    async def run(self, params: LlmParams, ctx) -> dict:
        config = ctx.settings.extra.get("llm_connections", {}).get(params.connection)
        if config is None:
            raise ActionError(f"unknown model connection '{params.connection}'", retryable=False)
        model = params.model or config.get("model")
        if not model:
            raise ActionError(f"no model given and connection '{params.connection}' has no default", retryable=False)
        messages = [m.model_dump() for m in params.messages] if params.messages else [
            *([{"role": "system", "content": params.system}] if params.system else []),
            {"role": "user", "content": params.prompt}]
        request: dict[str, Any] = {"model": model, "messages": messages}
        if params.temperature is not None:
            request["temperature"] = params.temperature
        if params.max_tokens is not None:
            request["max_tokens"] = params.max_tokens
        if params.output_schema:
            request["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "output", "schema": params.output_schema}}
        reply = await _complete(params.connection, config, request, params.timeout)
        text, usage, model = _read(reply, params.connection, model)
        data = None
        if params.output_schema:
            try:
                data = json.loads(text)
            except ValueError:
                raise ActionError(f"the reply is not JSON: {text[:120]!r}") from None
            problems = sorted(jsonschema.validators.validator_for(params.output_schema)(
                params.output_schema).iter_errors(data), key=lambda e: list(e.path))
            if problems:
                where = ".".join(map(str, problems[0].path))
                raise ActionError(f"the reply does not match output_schema: {where + ': ' if where else ''}"
                                  f"{problems[0].message}")
        return {"text": text, "data": data, "usage": usage, "model": model}


# -- the wire -------------------------------------------------------------------------------------
async def _complete(name: str, config: dict, request: dict, timeout: float) -> dict:
    """POST ``request`` to the connection's ``/chat/completions``; the reply's JSON object."""
    import httpx

    client = _client(config)
    url = str(config["base_url"]).rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {config.get('api_key') or 'none'}",
               "Content-Type": "application/json", "Accept": "application/json"}
    try:
        async with asyncio.timeout(timeout):  # the whole call, however slowly the reply trickles in
            async with client.stream("POST", url, content=_dumps(request), headers=headers,
                                     timeout=timeout) as response:
                content = await read_capped(response, MAX_REPLY, f"{name}: the answer is over the {MAX_REPLY} byte cap")
    except TimeoutError:
        raise ActionError(f"{name}: timed out after {timeout:g} s") from None
    except httpx.TimeoutException:
        raise ActionError(f"{name}: timed out after {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise ActionError(f"{name}: cannot connect ({type(exc).__name__}: {exc or 'connection failed'})") from None
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        body = None
    if response.status_code >= 400:
        raise ActionError(_hide(f"{name}: HTTP {response.status_code}: {_reason(body, content, response)}", config),
                          retryable=response.status_code == 429 or response.status_code >= 500)
    if not isinstance(body, dict):
        raise ActionError(_hide(f"{name}: the answer is not a chat completion (HTTP {response.status_code}: "
                                f"{content[:120]!r})", config))
    return body


def _hide(message: str, config: dict) -> str:
    """The message without the connection's key (an endpoint may quote the request it refuses)."""
    key = config.get("api_key")
    return Redactor({"api_key": str(key)}).text(message) if key else message


def _dumps(request: dict) -> bytes:
    try:
        return orjson.dumps(request)
    except TypeError:  # what orjson cannot write (an integer past 64 bits in output_schema): json can
        return json.dumps(request).encode()


def _read(reply: dict, name: str, model: str) -> tuple[str, dict, str]:
    """The text, the token counts and the model of a chat completion (as the openai client read them)."""
    choices = reply.get("choices")
    text = ""
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if content is not None and not isinstance(content, str):
            raise ActionError(f"{name}: the answer's content is not text")
        text = content or ""
    usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
    counts = {}
    for key in ("prompt_tokens", "completion_tokens"):
        value = usage.get(key)
        counts[key] = value if type(value) is int and value >= 0 else 0
    answered = reply.get("model")
    return text, counts, answered if isinstance(answered, str) and answered else model


#: {event loop: {base_url: client}}. Not a WeakKeyDictionary: a client's connections hold their
#: loop, so the entry would never go; a closed loop's clients are dropped when a new loop comes
#: (a worker running each run in its own ``asyncio.run`` keeps one loop's clients, not all).
_clients: dict[asyncio.AbstractEventLoop, dict] = {}


def _client(config: dict):
    """One client per endpoint and event loop, shared by every run: its kept-alive connections
    (TLS handshakes, with a real endpoint) serve the next run too. No cookie jar: nothing one run
    is answered travels with another's requests. Connections: as many as a foreach's calls in
    flight (openai's limits, the client used before), in netguard's cheaper pool. The endpoint
    is the server's configuration, not a workflow's: no address check (as with the openai client)."""
    import urllib.request

    import httpx

    loop = asyncio.get_running_loop()
    per_loop = _clients.get(loop)
    if per_loop is None:
        for old in [old for old in _clients if old.is_closed()]:
            del _clients[old]  # their sockets close as the clients are collected
        per_loop = _clients[loop] = {}
    key = str(config["base_url"])
    client = per_loop.get(key)
    if client is None or client.is_closed:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=5.0)
        # a proxy from the environment (HTTPS_PROXY...) needs httpx's own transport, which reads it
        transport = None if urllib.request.getproxies() else pooled_transport(limits)
        client = per_loop[key] = httpx.AsyncClient(
            limits=limits, transport=transport, follow_redirects=True,
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])))
    return client


def _reason(body, content: bytes, response) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str) and error["message"]:
            return error["message"][:500]
        if isinstance(error, str) and error:
            return error[:500]
    text = content[:200].decode("utf-8", "replace").split("\n")[0]
    return text or response.reason_phrase or "no reason given"
