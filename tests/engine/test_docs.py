"""Every YAML example in docs/format.md is a valid workflow that runs."""

import pathlib
import re

import pytest

import engine

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "format.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
INPUTS = {"inputs-demo": {"limit": 10}}


def test_the_doc_has_examples():
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize("text", BLOCKS, ids=lambda t: t.split("name: ")[1].split()[0])
async def test_doc_example_validates_and_runs(text):
    workflow = engine.load(text, "docs/format.md")
    runner = engine.Runner()
    result = await runner.run(engine.plan(workflow), INPUTS.get(workflow.name), engine.NullSink())
    runner.close()
    assert result.status == "succeeded", result.error
