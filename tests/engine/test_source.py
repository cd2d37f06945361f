"""Parsing YAML text safely, with positions and limits."""

import pytest

from engine import WorkflowInvalid
from engine.source import MAX_BYTES, parse


def issue(text, name="f.yaml"):
    with pytest.raises(WorkflowInvalid) as info:
        parse(text, name)
    assert len(info.value.issues) == 1
    return info.value.issues[0]


def test_positions_of_keys_and_items_are_one_based():
    doc = parse("name: x\nsteps:\n  - id: a\n    uses: wait\n")
    assert doc.positions[("name",)] == (1, 1)
    assert doc.positions[("steps", 0)] == (3, 5)
    assert doc.positions[("steps", 0, "uses")] == (4, 5)


def test_malformed_yaml_names_line_and_column():
    found = issue("name: x\nsteps: [\n  {id: a\n")
    assert found.line >= 3 and "invalid YAML" in found.message
    assert found.format("f.yaml").startswith(f"f.yaml:{found.line}:{found.column}: ")


def test_duplicate_keys_are_refused():
    found = issue("name: x\nname: y\n")
    assert (found.line, found.message) == (2, "duplicate key 'name'")


def test_alias_bomb_is_refused_quickly():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        lines.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [{', '.join(['*' + prev] * 10)}]")
    found = issue("\n".join(lines))
    assert "alias bomb" in found.message


def test_small_aliases_are_fine_and_shared():
    doc = parse("base: &b {seconds: 1}\nother: *b\n")
    assert doc.data["other"] == {"seconds": 1}


def test_document_over_one_mebibyte_is_refused():
    found = issue("a: '" + "x" * MAX_BYTES + "'\n")
    assert "1 MiB" in found.message


def test_nesting_deeper_than_64_is_refused_without_recursion_error():
    found = issue("[" * 5000 + "]" * 5000)
    assert "nesting deeper than 64" in found.message
    parse("[" * 60 + "]" * 60)


def test_python_tags_are_refused():
    found = issue("a: !!python/object/apply:os.system ['echo hi']\n")
    assert "python/object" in found.message


def test_several_documents_and_empty_text_are_refused():
    assert "one YAML document" in issue("a: 1\n---\nb: 2\n").message
    assert "empty" in issue("").message
    assert "empty" in issue("# only a comment\n").message


def test_json_is_accepted():
    doc = parse('{"name": "x", "steps": [{"id": "a", "uses": "wait", "with": {"seconds": 0}}]}')
    assert doc.data["steps"][0]["id"] == "a"


def test_timestamps_stay_text():
    assert parse("d: 2025-01-01\n").data == {"d": "2025-01-01"}


def test_non_utf8_bytes_are_a_clear_error():
    assert "UTF-8" in issue(b"name: \xff\xfe\n").message
