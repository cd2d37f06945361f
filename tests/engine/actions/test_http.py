"""The http action against a real local server: requests, limits, retries, and what it refuses."""

import json
import time

import pytest

import engine
from tests.engine.actions.servers import Handler, LocalServer


@pytest.fixture(scope="module")
def server():
    server = LocalServer()
    yield server
    server.close()


def settings(**extra):
    return engine.EngineSettings(extra={"http_allow": ("127.0.0.1",), **extra})


async def run(text, config=None, secrets=None, services=None):
    config = config or settings()
    workflow = engine.load(text, "h.yaml", settings=config)
    runner = engine.Runner(settings=config, secrets=secrets, services=services)
    sink = engine.ListSink()
    result = await runner.run(engine.plan(workflow), {}, sink)
    runner.close()
    return result, sink


def step(retry=None, **with_):
    data = {"id": "h", "uses": "http", "with": with_, **({"retry": retry} if retry else {})}
    return f"name: h\nsteps:\n  - {json.dumps(data)}\n"


async def test_get_with_query_and_json_reply(server):
    result, _ = await run(step(url=f"{server.base}/echo", params={"q": "x y"}, headers={"Authorization": "t"}))
    out = result.outputs["h"]
    assert out["status"] == 200 and out["body"] == {"method": "GET", "query": {"q": "x y"}, "body": "", "auth": "t"}
    assert out["headers"]["content-type"] == "application/json"


async def test_post_json_form_and_text_bodies(server):
    for body, expected in [({"json": {"a": 1}}, '{"a":1}'), ({"form": {"a": "1"}}, "a=1"), ({"text": "hi"}, "hi")]:
        result, _ = await run(step(url=f"{server.base}/echo", method="POST", **body))
        assert result.outputs["h"]["body"]["body"].replace(" ", "") == expected


async def test_text_response_and_expect(server):
    result, _ = await run(step(url=f"{server.base}/text"))
    assert result.outputs["h"]["body"] == "plain words"
    result, _ = await run(step(url=f"{server.base}/status?code=404", expect=[200, 404]))
    assert result.outputs["h"]["status"] == 404


async def test_client_errors_fail_at_once_and_server_errors_are_retried(server):
    result, sink = await run(step(url=f"{server.base}/status?code=404", retry={"attempts": 3, "delay": 0}))
    assert result.status == "failed" and "HTTP 404" in result.error and not sink.of_type("step.retrying")
    Handler.hits.pop("/flaky", None)
    start = time.perf_counter()
    result, sink = await run(step(url=f"{server.base}/flaky?fail=1&after=1", retry={"attempts": 2, "delay": 0}))
    assert result.status == "succeeded" and result.outputs["h"]["body"] == {"calls": 2}
    assert sink.of_type("step.retrying")[0].delay == 1.0 and time.perf_counter() - start >= 1.0, "Retry-After"


@pytest.mark.parametrize("url, kind", [
    ("http://127.0.0.1:9/", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://localhost:9/", "loopback"),
    ("http://[::1]:9/", "loopback"),
    ("http://10.1.2.3/", "private"),
])
async def test_private_and_special_addresses_are_refused_by_default(url, kind):
    result, _ = await run(step(url=url), engine.EngineSettings())
    assert result.status == "failed" and f"a {kind} address" in result.error and "http_allow" in result.error


async def test_a_name_resolving_to_a_private_address_is_refused():
    async def resolve(host):
        return ["10.0.0.1"] if host == "intranet.example" else ["93.184.215.14"]

    result, _ = await run(step(url="http://intranet.example/"), engine.EngineSettings(),
                          services={"resolve": resolve})
    assert "intranet.example resolves to 10.0.0.1, a private address" in result.error


async def test_a_redirect_to_a_private_address_is_refused(server):
    config = settings()
    result, _ = await run(step(url=f"{server.base}/redirect?to=http://169.254.169.254/"), config)
    assert result.status == "failed" and "169.254.169.254" in result.error
    ok, _ = await run(step(url=f"{server.base}/redirect?to=/text"), config)
    assert ok.outputs["h"]["body"] == "plain words"


async def test_networks_can_be_allowed():
    config = engine.EngineSettings(extra={"http_allow": ("127.0.0.0/8",)})
    result, _ = await run(step(url="http://127.0.0.1:9/"), config)
    assert "refused" not in result.error and "ConnectError" in result.error


async def test_a_numeric_host_connects_to_the_address_it_means(server):
    result, _ = await run(step(url=f"http://2130706433:{server.port}/headers"), settings())
    assert result.status == "succeeded", result.error
    assert result.outputs["h"]["body"]["host"] == f"2130706433:{server.port}", "Host keeps the URL's form"


async def test_responses_over_the_cap_fail(server):
    result, _ = await run(step(url=f"{server.base}/big?size=5000"), settings(http_max_bytes=1000))
    assert result.status == "failed" and "over the 1000 byte cap" in result.error


async def test_foreach_with_a_host_cap_and_a_rate_limit_keeps_order(server):
    text = f"""name: many
steps:
  - id: each
    foreach: {list(range(30))}
    concurrency: 30
    steps:
      - id: get
        uses: http
        with: {{url: "{server.base}/item/${{item}}", rate_limit: 20, host_concurrency: 5}}
      - id: pick
        uses: transform
        with: {{value: "${{get.body}}", pick: [id]}}
"""
    start = time.perf_counter()
    result, _ = await run(text)
    wall = time.perf_counter() - start
    assert result.outputs["each"] == [{"id": i} for i in range(30)]
    assert wall >= (30 - 20) / 20 * 0.9, "20 a second, a bucket of 20: the last 10 wait half a second"
