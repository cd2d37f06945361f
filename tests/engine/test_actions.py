"""Built-in actions and the registry."""

import pytest

import engine
from engine.actions.python import is_allowed
from tests.engine.helpers import run


@pytest.mark.parametrize("values, mode, expected", [
    ([{"a": 1}, {"b": 2}, {"a": 3}], "auto", {"a": 3, "b": 2}),
    ([[1], [2, 3], None], "auto", [1, 2, 3]),
    ([1, "x", {"a": 1}], "auto", [1, "x", {"a": 1}]),
    ([[1], [2]], "collect", [[1], [2]]),
    ([{"a": 1}, None, {"a": 2}], "update", {"a": 2}),
    ([[1], [2]], "concat", [1, 2]),
])
async def test_merge_modes(values, mode, expected):
    import json
    result, _ = await run(f"name: m\nsteps:\n  - {{id: m, uses: merge, with: {{values: {json.dumps(values)}, mode: {mode}}}}}\n")
    assert result.outputs == {"m": expected}


async def test_merge_update_of_a_non_mapping_fails_clearly():
    result, _ = await run("name: m\nsteps:\n  - {id: m, uses: merge, with: {values: [{a: 1}, [2]], mode: update}}\n")
    assert result.status == "failed" and "values[1] is not a mapping" in result.error


async def test_wait_returns_its_value_and_fail_fails_with_its_message():
    ok, _ = await run("name: w\nsteps:\n  - {id: w, uses: wait, with: {seconds: 10ms, value: [1, 2]}}\n")
    assert ok.outputs == {"w": [1, 2]}
    bad, _ = await run("name: f\nsteps:\n  - {id: f, uses: fail, with: {message: deliberate stop}}\n")
    assert bad.status == "failed" and bad.error == "f: deliberate stop"


async def test_python_calls_sync_and_async_functions_with_args():
    result, _ = await run("""
        name: py
        steps:
          - {id: wc, uses: python, with: {function: "engine.functions.text:word_count", args: ["one two three"]}}
          - {id: up, uses: python, with: {function: "engine.functions.text:upper", kwargs: {text: "ab"}}}
          - {id: tr, uses: python, with: {function: "tests.engine.helpers:tracked", args: [0, 7]}}
    """)
    assert result.outputs == {"wc": 3, "up": "AB", "tr": 7}


async def test_python_refuses_what_the_allowlist_does_not_name_even_at_run_time():
    result, _ = await run("""
        name: py
        inputs: {f: {type: string, default: "os:getcwd"}}
        steps:
          - {id: a, uses: python, with: {function: "${inputs.f}"}}
    """)
    assert result.status == "failed" and "not allowed by the python allowlist" in result.error


async def test_python_result_must_be_json_and_exceptions_name_their_type():
    bad, _ = await run("name: p\nsteps:\n  - {id: a, uses: python, with: {function: 'tests.engine.helpers:not_json'}}\n")
    assert "not JSON data" in bad.error
    boom, _ = await run("name: p\nsteps:\n  - {id: a, uses: python, with: "
                        "{function: 'tests.engine.helpers:explode', args: [kaput]}}\n")
    assert boom.error == "a: ValueError: kaput"


def test_allowlist_patterns():
    assert is_allowed("engine.functions.text:word_count", ["engine.functions.*"])
    assert is_allowed("pkg.mod:fn", ["pkg.mod:fn"])
    assert not is_allowed("os:system", ["engine.functions.*"])
    assert not is_allowed("engine.functionsX:f", ["engine.functions.*:*"])


def test_registry_lists_every_action_with_its_json_schema():
    described = engine.default_registry().describe()
    names = [d["name"] for d in described]
    assert names == ["approval", "fail", "http", "llm", "merge", "python", "sql", "transform", "wait", "workflow"]
    wait = next(d for d in described if d["name"] == "wait")
    assert wait["schema"]["required"] == ["seconds"] and "value" in wait["schema"]["properties"]
    merge = next(d for d in described if d["name"] == "merge")
    assert merge["schema"]["properties"]["mode"]["enum"] == ["auto", "update", "concat", "collect", "zip"]


def test_registry_resolves_skills_and_refuses_duplicates():
    registry = engine.default_registry()
    with pytest.raises(ValueError):
        registry.register(type(registry.get("wait")))
    skill = registry.get("wait")
    with_skills = registry.with_skills(lambda name: skill if name == "pause" else None, lambda: ["pause"])
    assert with_skills.get("pause") is skill and with_skills.get("nope") is None
    assert with_skills.suggest("paus") == "pause" and "pause" in with_skills.names()
    assert registry.get("pause") is None
