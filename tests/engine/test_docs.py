"""Every YAML example in docs/format.md is a valid workflow that runs.

An example ends ``succeeded`` unless it says otherwise in a last comment line
(``# expect: failed`` for a rollback, ``# expect: waiting`` for an approval)."""

import pathlib
import re

import pytest

import engine

ROOT = pathlib.Path(__file__).resolve().parents[2]
FORMAT = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "format.md").read_text(), re.S)
ACTIONS = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "actions.md").read_text(), re.S)
BLOCKS = FORMAT + ACTIONS
INPUTS = {"inputs-demo": {"limit": 10}}


@pytest.fixture(scope="module")
def servers():
    from examples.fake_llm import FakeLLM
    from tests.engine.actions.servers import LocalServer

    fake, local = FakeLLM(), LocalServer()
    yield fake, local
    fake.close()
    local.close()


def test_the_docs_have_examples():
    assert len(FORMAT) >= 10 and len(ACTIONS) >= 5


@pytest.mark.parametrize("text", BLOCKS, ids=lambda t: t.split("name: ")[1].split()[0])
async def test_doc_example_validates_and_runs(text, servers):
    fake, local = servers
    settings = engine.EngineSettings(extra={
        "sql_connections": {"examples": {"url": f"sqlite:///{ROOT / 'examples' / 'data' / 'sales.sqlite3'}"}},
        "llm_connections": {"default": {"base_url": fake.base_url, "model": "fake-1"}},
        "http_allow": ("127.0.0.1",)})

    async def saved(name, version):
        return next((t for t in BLOCKS if f"name: {name}\n" in t), None)

    workflow = engine.load(text, "docs.md", settings=settings)
    runner = engine.Runner(settings=settings, services={"workflows": saved})
    inputs = {**INPUTS, "http-demo": {"base": local.base}}.get(workflow.name)
    result = await runner.run(engine.plan(workflow), inputs, engine.NullSink(), approvals={})
    runner.close()
    expected = re.search(r"^# expect: (\w+)\s*$", text, re.M)
    assert result.status == (expected.group(1) if expected else "succeeded"), result.error
