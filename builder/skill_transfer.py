"""Skills out and in as one YAML file, the shape of examples/skills/skills.yaml: a list of
mappings (name, title, description, category, action, config, input_schema, output_schema,
concurrency; ``enabled: false`` only for a disabled skill).

An import is checked whole before anything is written: the text's size, nesting and aliases
(refused before it is built, like workflow files), then every entry as the admin form checks a
skill, each problem named by its skill. Entries whose name exists update that skill; the others
are new. Nothing is written unless every entry is fine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml
from django.db import transaction

from .models import Skill
from .skill_form import problems
from .skill_history import record, snapshot

MAX_BYTES = 1 << 20
MAX_DEPTH = 40
MAX_SKILLS = 1000
KEYS = ["name", "title", "description", "category", "action", "config", "input_schema", "output_schema",
        "concurrency", "enabled"]
_TYPES = {"name": (str,), "title": (str,), "description": (str,), "category": (str,), "action": (str,),
          "config": (dict,), "input_schema": (dict,), "output_schema": (dict, type(None)),
          "concurrency": (int, type(None)), "enabled": (bool,)}
_TYPE_WORDS = {"config": "a mapping", "input_schema": "a mapping (a JSON Schema)",
               "output_schema": "a mapping (a JSON Schema) or null", "concurrency": "a whole number or null",
               "enabled": "true or false"}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Dumper(yaml.SafeDumper):
    """Never writes anchors and aliases (the import refuses them): a shared value is repeated."""

    def ignore_aliases(self, data) -> bool:
        return True


class TransferError(Exception):
    """The file cannot be imported: ``problems`` says why, each naming its skill."""

    def __init__(self, problems: list[str]):
        super().__init__(problems)
        self.problems = problems


def export_yaml(skills) -> str:
    """The skills as one YAML document (a list), in the examples' shape and key order."""
    entries = []
    for skill in skills:
        entry = {key: getattr(skill, key) for key in KEYS[:7]}
        if skill.output_schema is not None:
            entry["output_schema"] = skill.output_schema
        if skill.concurrency is not None:
            entry["concurrency"] = skill.concurrency
        if not skill.enabled:
            entry["enabled"] = False
        entries.append(entry)
    head = "# Skills exported from the workflow builder's admin; import them in another one's.\n"
    return head + yaml.dump(entries, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def _guard(text: str) -> None:
    """Refuse what would be costly to build: too big, too deep, or with aliases (anchors
    re-used, the "billion laughs")."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise TransferError([f"the file is larger than {MAX_BYTES // (1 << 20)} MB"])
    if "\x00" in text:
        raise TransferError(["the file holds the NUL character: it is not a YAML text file"])
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                raise TransferError([f"line {mark.line + 1}: aliases (*name) are not accepted in a skills file"])
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise TransferError([f"line {event.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels"])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError as exc:
        raise TransferError([_yaml_problem(exc)]) from None


def _yaml_problem(exc: Exception) -> str:
    """A YAML error in one line: where, and what."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = str(getattr(exc, "problem", None) or exc).split("\n")[0][:300]
    if "could not determine a constructor" in problem:
        problem = f"{problem.split('for the tag')[-1].strip()} is not accepted (plain YAML only)"
    return f"not valid YAML: {where}{problem}"


def parse(text: str) -> tuple[list[dict], list[str]]:
    """The well-formed entries of a skills file and the problems of the others; TransferError
    when the file as a whole cannot be read."""
    _guard(text)
    try:
        data = yaml.load(text, Loader=_LOADER)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # e.g. a date out of range
        raise TransferError([_yaml_problem(exc)]) from None
    if not isinstance(data, list):
        raise TransferError(["a skills file is a list of skills (- name: …), like examples/skills/skills.yaml"])
    if len(data) > MAX_SKILLS:
        raise TransferError([f"more than {MAX_SKILLS} skills in one file"])
    found, seen, good = [], {}, []
    for n, entry in enumerate(data, 1):
        label, before = f"entry {n}", len(found)
        if not isinstance(entry, dict):
            found.append(f"{label}: a skill is a mapping (name: …, action: …)")
            continue
        name = entry.get("name")
        if isinstance(name, str) and name:
            label = f"skill '{name[:100]}'"
            if name in seen:
                found.append(f"{label}: named twice in the file (entries {seen[name]} and {n})")
            seen.setdefault(name, n)
        else:
            found.append(f"{label}: it has no name")
        unknown = [str(k) for k in entry if k not in KEYS]
        if unknown:
            found.append(f"{label}: unknown keys {', '.join(sorted(unknown)[:10])} (known: {', '.join(KEYS)})")
        for key, value in entry.items():
            if key in _TYPES and not isinstance(value, _TYPES[key]) or (key == "concurrency" and value is True):
                found.append(f"{label}: {key} must be {_TYPE_WORDS.get(key, 'text')}")
        if "action" not in entry:
            found.append(f"{label}: it has no action")
        if len(found) == before:
            good.append(entry)
    return good, found


@dataclass
class Plan:
    """What an import would do: the skills in their new state, and their states before."""

    skills: list[Skill] = field(default_factory=list)
    before: dict[str, dict | None] = field(default_factory=dict)

    @property
    def changes(self):
        """(name today, proposed, pk) for skill_usage.impact."""
        return [(s.name if s.pk else "", s, s.pk) for s in self.skills]

    @property
    def created(self) -> int:
        return sum(1 for s in self.skills if not s.pk)


def plan(text: str) -> Plan:
    """Every skill of the file checked as the admin form checks one, or TransferError."""
    entries, found = parse(text)
    existing = {s.name: s for s in Skill.objects.filter(name__in=[e["name"] for e in entries])}
    result = Plan()
    for entry in entries:
        skill = existing.get(entry["name"]) or Skill(name=entry["name"])
        result.before[skill.name] = snapshot(skill) if skill.pk else None
        defaults = {"title": "", "description": "", "category": "Skills", "config": {}, "input_schema": {},
                    "output_schema": None, "concurrency": None, "enabled": True}
        for key in KEYS[1:]:
            setattr(skill, key, entry.get(key, defaults.get(key)))
        for where, messages in problems(skill).items():
            for message in messages:
                found.append(f"skill '{entry['name'][:100]}': {where}: {message}")
        result.skills.append(skill)
    if found:
        raise TransferError(found)
    return result


@transaction.atomic
def apply(result: Plan, user) -> tuple[int, int]:
    """Write an import's skills (each change kept in the history); (created, updated)."""
    created = result.created
    for skill in result.skills:
        before = result.before.get(skill.name)
        skill.save()
        record(skill, user, "imported", before)
    return created, len(result.skills) - created
