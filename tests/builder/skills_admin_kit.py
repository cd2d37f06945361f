"""What the skills admin's tests share: a skill, a workflow that uses it, the form's fields."""

import json

import pytest

from builder.models import Skill

SHOUT = {"name": "shout", "title": "Shout", "description": "upper-case a text", "category": "Text",
         "action": "python", "config": {"function": "engine.functions.text:upper", "args": ["${inputs.text}"]},
         "input_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"],
                          "additionalProperties": False},
         "output_schema": {"type": "string"}}

USES_SHOUT = """name: loud
steps:
  - {id: a, uses: shout, with: {text: hello}}
"""


def make_shout(**changes) -> Skill:
    return Skill.objects.create(**{**SHOUT, **changes})


def form_data(skill: Skill | None = None, **changes) -> dict:
    """The change form's POST for a skill (SHOUT by default) with some fields changed."""
    data = dict(SHOUT) if skill is None else {k: getattr(skill, k) for k in SHOUT}
    data.update(changes)
    out = {k: json.dumps(v) if k in ("config", "input_schema", "output_schema") else v for k, v in data.items()}
    if out.get("output_schema") == "null":
        out["output_schema"] = ""
    enabled = data.get("enabled", True if skill is None else skill.enabled)
    out.pop("enabled", None)
    if enabled:
        out["enabled"] = "on"
    out.setdefault("concurrency", "")
    return out


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client
