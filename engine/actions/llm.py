"""``llm``: a chat completion from any OpenAI-compatible endpoint (the ``openai`` package).

Connections come from ``EngineSettings.extra["llm_connections"]``: ``{name: {"base_url",
"api_key", "model"}}`` — keys never appear in a workflow. With ``output_schema`` the reply is
asked for as JSON, parsed and validated; a reply that does not fit is a (retryable) error.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, Field, model_validator

from ..errors import ActionError
from ..spec import Duration
from .base import Action, Params, connection_problem


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
        import openai

        config = ctx.settings.extra.get("llm_connections", {}).get(params.connection)
        if config is None:
            raise ActionError(f"unknown model connection '{params.connection}'", retryable=False)
        model = params.model or config.get("model")
        if not model:
            raise ActionError(f"no model given and connection '{params.connection}' has no default", retryable=False)
        client = _client(ctx, params.connection, config)
        messages = [m.model_dump() for m in params.messages] if params.messages else [
            *([{"role": "system", "content": params.system}] if params.system else []),
            {"role": "user", "content": params.prompt}]
        options: dict[str, Any] = {}
        if params.temperature is not None:
            options["temperature"] = params.temperature
        if params.max_tokens is not None:
            options["max_tokens"] = params.max_tokens
        if params.output_schema:
            options["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "output", "schema": params.output_schema}}
        try:
            reply = await client.chat.completions.create(model=model, messages=messages, timeout=params.timeout,
                                                         **options)
        except openai.APIStatusError as exc:
            raise ActionError(f"{params.connection}: HTTP {exc.status_code}: {_reason(exc)}",
                              retryable=exc.status_code == 429 or exc.status_code >= 500) from None
        except openai.APITimeoutError:
            raise ActionError(f"{params.connection}: timed out after {params.timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise ActionError(f"{params.connection}: cannot connect ({exc.__cause__ or exc})") from None
        text = reply.choices[0].message.content or "" if reply.choices else ""
        usage = {"prompt_tokens": getattr(reply.usage, "prompt_tokens", 0) or 0,
                 "completion_tokens": getattr(reply.usage, "completion_tokens", 0) or 0}
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
        return {"text": text, "data": data, "usage": usage, "model": reply.model or model}


def _client(ctx, name: str, config: dict):
    import openai

    resources = ctx.services.setdefault("resources", {})
    key = f"llm:{name}"
    client = resources.get(key)
    if client is None:
        client = resources[key] = openai.AsyncOpenAI(base_url=config["base_url"],
                                                     api_key=config.get("api_key") or "none", max_retries=0)
    return client


def _reason(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(getattr(exc, "message", exc)).split("\n")[0][:200]
