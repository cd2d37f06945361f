"""The llm action against the project's fake OpenAI-compatible server on a loopback port."""

import asyncio
import json
import socket

import httpx
import pytest

import engine
from engine.actions import llm
from examples.fake_llm import FakeLLM
from tests.engine.actions.servers import LocalServer


@pytest.fixture(scope="module")
def fake():
    server = FakeLLM()
    yield server
    server.close()


def settings(fake, mode="", base_url=None):
    return engine.EngineSettings(extra={"llm_connections": {
        "default": {"base_url": base_url or fake.url(mode), "api_key": "test-key", "model": "fake-1"}}})


async def ask(fake, mode="", retry=None, base_url=None, **with_):
    step = {"id": "a", "uses": "llm", "with": with_, **({"retry": retry} if retry else {})}
    config = settings(fake, mode, base_url)
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


async def test_the_fake_server_answers_slow_calls_at_once_on_kept_alive_connections():
    """The fake model is asyncio: 20 slow calls wait together (the llm benchmark's concurrency),
    over connections the client keeps; its stats say so."""
    fake = FakeLLM()
    async with httpx.AsyncClient() as client:
        replies = await asyncio.gather(*(client.post(f"{fake.url('slow/0.2')}/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": f"item {i}"}]}) for i in range(20)))
        again = await client.post(f"{fake.base_url}/chat/completions", json={"messages": []})
        stats = (await client.get(f"http://127.0.0.1:{fake.port}/stats")).json()
    fake.close()
    assert [r.json()["choices"][0]["message"]["content"] for r in replies] == [f"Summary: item {i}" for i in range(20)]
    assert again.status_code == 200 and stats["calls"] == 21 and stats["most_in_flight"] == 20 and stats["connections"] == 20
    assert all(r.http_version == "HTTP/1.1" and "connection" not in r.headers for r in replies)


@pytest.fixture(scope="module")
def local():
    server = LocalServer()
    yield server
    server.close()


@pytest.mark.parametrize("mode, message, retried", [
    ("status/429", "HTTP 429: as asked (429)", True), ("status/503", "HTTP 503: as asked (503)", True),
    ("status/400", "HTTP 400: as asked (400)", False), ("status/401", "HTTP 401: as asked (401)", False),
    ("text/502", "HTTP 502: upstream trouble", True)])
async def test_error_replies_say_the_status_and_reason_and_retry_when_they_may_pass(fake, local, mode, message,
                                                                                  retried):
    result, sink = await ask(fake, base_url=f"{local.base}/chat/{mode}/v1", prompt="x",
                             retry={"attempts": 2, "delay": 0})
    assert result.status == "failed" and result.error.endswith(f"default: {message}")
    assert "second line" not in result.error and bool(sink.of_type("step.retrying")) == retried


async def test_a_slow_model_times_out_and_a_closed_port_cannot_connect(fake):
    result, _ = await ask(fake, "slow/5", prompt="x", timeout=0.3)
    assert result.status == "failed" and "default: timed out after 0.3 s" in result.error
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result, sink = await ask(fake, base_url=f"http://127.0.0.1:{port}/v1", prompt="x", retry={"attempts": 2, "delay": 0})
    assert "default: cannot connect (ConnectError" in result.error and sink.of_type("step.retrying")


async def test_an_answer_past_the_cap_is_refused_as_it_arrives(fake, local, monkeypatch):
    monkeypatch.setattr(llm, "MAX_REPLY", 4096)
    result, _ = await ask(fake, base_url=f"{local.base}/chat/big/10000/v1", prompt="x")
    assert result.status == "failed" and "default: the answer is over the 4096 byte cap" in result.error
    result, _ = await ask(fake, base_url=f"{local.base}/chat/big/1000/v1", prompt="x")
    assert result.status == "succeeded" and result.outputs["a"]["text"] == "y" * 1000


async def test_odd_usage_counts_no_tokens_and_the_model_asked_for_stands(fake, local):
    result, _ = await ask(fake, base_url=f"{local.base}/chat/odd/v1", prompt="x", model="asked-1")
    assert result.outputs["a"] == {"text": "", "data": None, "usage": {"prompt_tokens": 0, "completion_tokens": 0},
                                   "model": "asked-1"}
    assert result.summary["tokens"] == {"prompt_tokens": 0, "completion_tokens": 0}


async def test_the_key_goes_as_a_bearer_and_no_cookie_comes_back_in_any_run(fake, local):
    """The client is shared by runs (its connections are kept), so it keeps no cookie jar."""
    for _ in range(2):
        result, _ = await ask(fake, base_url=f"{local.base}/chat/cookie/v1", prompt="hello", temperature=0.5,
                              max_tokens=7)
        seen = json.loads(result.outputs["a"]["text"])
        assert seen["cookie"] is None and seen["auth"] == "Bearer test-key"
        assert seen["sent"] == {"model": "fake-1", "messages": [{"role": "user", "content": "hello"}],
                                "temperature": 0.5, "max_tokens": 7}


async def test_runs_share_the_endpoints_kept_alive_connections():
    fake = FakeLLM()  # its own: another test's timed-out call may still be asleep on the shared one
    config = settings(fake, "slow/0.05")
    workflow = engine.load(json.dumps({"name": "l", "steps": [{"id": "each", "foreach": list(range(10)),
                                                                "concurrency": 5, "steps": [
        {"id": "a", "uses": "llm", "with": {"prompt": "item ${item}"}}]}]}), settings=config)
    for _ in range(2):
        result = await engine.Runner(settings=config).run(engine.plan(workflow), {}, engine.NullSink())
        assert result.status == "succeeded" and result.summary["tokens"]["prompt_tokens"] == 10 * 7
    stats = fake.stats()
    fake.close()
    assert stats["calls"] == 20 and stats["connections"] <= 5 and stats["most_in_flight"] == 5


def test_a_closed_loops_clients_are_dropped_when_a_new_loop_calls(fake):
    """Each run in its own asyncio.run (as a worker may do) keeps one loop's clients, not every one."""
    loops = []

    async def one():
        loops.append(asyncio.get_running_loop())
        result, _ = await ask(fake, prompt="x")
        assert result.status == "succeeded"

    asyncio.run(one())
    asyncio.run(one())
    assert loops[0] not in llm._clients and list(llm._clients) == [loops[1]]


async def test_an_error_that_quotes_the_key_does_not_show_it(fake, local):
    result, _ = await ask(fake, base_url=f"{local.base}/chat/quote/v1", prompt="x")
    assert result.status == "failed" and result.error.endswith("default: HTTP 401: bad key: Bearer ***")
    assert "test-key" not in result.error
