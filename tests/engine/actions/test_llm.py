"""The llm action against the project's fake OpenAI-compatible server on a loopback port."""

import json

import pytest

import engine
from examples.fake_llm import FakeLLM


@pytest.fixture(scope="module")
def fake():
    server = FakeLLM()
    yield server
    server.close()


def settings(fake, mode=""):
    return engine.EngineSettings(extra={"llm_connections": {
        "default": {"base_url": fake.url(mode), "api_key": "test-key", "model": "fake-1"}}})


async def ask(fake, mode="", retry=None, **with_):
    step = {"id": "a", "uses": "llm", "with": with_, **({"retry": retry} if retry else {})}
    config = settings(fake, mode)
    workflow = engine.load(f"name: l\nsteps:\n  - {json.dumps(step)}\n", settings=config)
    runner = engine.Runner(settings=config)
    sink = engine.ListSink()
    result = await runner.run(engine.plan(workflow), {}, sink)
    runner.close()
    return result, sink


async def test_a_prompt_gets_text_usage_and_model(fake):
    result, _ = await ask(fake, prompt="Explain parallel workflows to a new engineer please", system="Be brief")
    out = result.outputs["a"]
    assert out["text"] == "Summary: Explain parallel workflows to a new engineer please"
    assert out["data"] is None and out["model"] == "fake-1"
    assert out["usage"] == {"prompt_tokens": 13, "completion_tokens": 9}
    assert result.summary["tokens"] == out["usage"]


async def test_output_schema_gives_validated_data(fake):
    schema = {"type": "object", "properties": {"label": {"type": "string", "enum": ["bug", "idea", "question"]},
                                               "confidence": {"type": "number"}},
              "required": ["label", "confidence"]}
    result, _ = await ask(fake, prompt="The save button crashes", output_schema=schema)
    data = result.outputs["a"]["data"]
    assert data["label"] in ("bug", "idea", "question") and isinstance(data["confidence"], float)


async def test_a_reply_that_is_not_json_is_a_retryable_error(fake):
    result, sink = await ask(fake, "notjson", prompt="x", output_schema={"type": "object"},
                             retry={"attempts": 2, "delay": 0})
    assert result.status == "failed" and "the reply is not JSON" in result.error
    assert len(sink.of_type("step.retrying")) == 1


async def test_a_reply_that_fails_the_schema_names_the_problem(fake):
    schema = {"type": "object", "properties": {"n": {"type": "string"}}, "required": ["n", "missing"]}
    result, _ = await ask(fake, prompt="x", output_schema=schema)
    assert "does not match output_schema: 'missing' is a required property" in result.error


async def test_server_errors_are_reported_and_retryable(fake):
    result, sink = await ask(fake, "fail", prompt="x", retry={"attempts": 2, "delay": 0})
    assert "HTTP 500: the fake model failed, as asked" in result.error and sink.of_type("step.retrying")


def test_unknown_connection_and_bad_schema_are_validation_errors(fake):
    with pytest.raises(engine.WorkflowInvalid) as info:
        engine.load("name: l\nsteps:\n  - {id: a, uses: llm, with: {connection: gpt, prompt: x, "
                    "output_schema: {type: nope}}}\n", settings=settings(fake))
    text = str(info.value)
    assert "unknown model connection 'gpt' (connections: default)" in text and "not a valid JSON Schema" in text
    with pytest.raises(engine.WorkflowInvalid, match="either prompt"):
        engine.load("name: l\nsteps:\n  - {id: a, uses: llm, with: {}}\n", settings=settings(fake))


async def test_the_fake_server_answers_slow_calls_at_once_on_kept_alive_connections(fake):
    """The fake model is asyncio: 20 slow calls wait together (the llm benchmark's concurrency),
    over connections the client keeps; its stats say so."""
    import asyncio

    import httpx

    fake.stats(reset=True)
    async with httpx.AsyncClient() as client:
        replies = await asyncio.gather(*(client.post(f"{fake.url('slow/0.2')}/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": f"item {i}"}]}) for i in range(20)))
        again = await client.post(f"{fake.base_url}/chat/completions", json={"messages": []})
        stats = (await client.get(f"http://127.0.0.1:{fake.port}/stats")).json()
    assert [r.json()["choices"][0]["message"]["content"] for r in replies] == [f"Summary: item {i}" for i in range(20)]
    assert again.status_code == 200 and stats["calls"] == 21 and stats["most_in_flight"] == 20
    assert all(r.http_version == "HTTP/1.1" and "connection" not in r.headers for r in replies)
