"""Which workflows use a skill, and which of them a change of skills would break.

"Used by" looks at each workflow's current version only (older versions keep their runs but
are not run again without a new save). A change (edit, rename, disable, delete, import) is
tried out on a registry where the changed skills are replaced by their proposed state; every
workflow that uses one of them and is valid today is validated again against it. Those that
fail are the ones the admin is asked to confirm breaking.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import yaml

from engine import WorkflowInvalid

from .models import Skill, Workflow
from .runtime import load_workflow, registry, secret_names_for
from .skill_try import is_try_workflow

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _uses(node, names: set[str]) -> bool:
    """Does a parsed workflow have a step ``uses:`` one of ``names``, at any depth (every block
    kind: branches, bodies, cases, lanes, compensations)?"""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("uses") in names:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def users_of(*names: str) -> list[Workflow]:
    """The workflows whose current version uses any of these skills (the admin's own "Try it"
    workflows left out), by owner then name."""
    wanted = {n for n in names if n}
    if not wanted:
        return []
    candidates = Workflow.objects.select_related("owner").order_by("owner__username", "name")
    query = None
    for name in wanted:  # the text must hold the name: most workflows are never parsed
        query = candidates.filter(yaml__contains=name) if query is None else query | candidates.filter(yaml__contains=name)
    found = []
    for workflow in query.distinct():
        if is_try_workflow(workflow):
            continue
        try:
            parsed = yaml.load(workflow.yaml, Loader=_LOADER)  # saved text: checked for size and depth then
        except yaml.YAMLError:
            continue
        if _uses(parsed, wanted):
            found.append(workflow)
    return found


def summary(workflows: list[Workflow]) -> str:
    """"3 workflows of 2 owners" (or "no workflow")."""
    if not workflows:
        return "no workflow uses it"
    owners = len({w.owner_id for w in workflows})
    return (f"{len(workflows)} workflow{'s' if len(workflows) != 1 else ''} of "
            f"{owners} owner{'s' if owners != 1 else ''}")


@dataclass
class Break:
    """A workflow the change would make invalid, with the first reasons."""

    workflow: Workflow
    reasons: list[str]


@dataclass
class Breaks:
    """What a change would break; ``fingerprint`` names exactly this set (the confirm button's
    value: a confirmation counts only for the breaks that were shown)."""

    items: list[Break] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.items)

    @property
    def fingerprint(self) -> str:
        key = ",".join(f"{b.workflow.pk}:{b.workflow.version}" for b in self.items)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def summary(self) -> str:
        return summary([b.workflow for b in self.items])


def _problems(workflow: Workflow, actions, cache: dict) -> list[str]:
    """Why the workflow's current text is invalid with ``actions`` ([] when it is valid)."""
    owner = workflow.owner
    if owner.pk not in cache:
        cache[owner.pk] = (secret_names_for(owner),
                           set(Workflow.objects.filter(owner=owner).values_list("name", flat=True)))
    secrets, names = cache[owner.pk]
    try:
        load_workflow(workflow.yaml, f"{workflow.name}.yaml", actions, secret_names=secrets, workflow_names=names)
    except WorkflowInvalid as exc:
        return [issue.format(f"{workflow.name}.yaml") for issue in exc.issues[:3]]
    return []


def impact(changes: list[tuple[str, Skill | None, int | None]]) -> Breaks:
    """The workflows valid today that these changes would break. Each change is (the skill's
    name today, its proposed state or None when it goes away, its pk or None when new)."""
    old_names = [old for old, _, _ in changes if old]
    users = users_of(*old_names, *[p.name for _, p, _ in changes if p is not None])
    if not users:
        return Breaks()
    changed = {pk for _, _, pk in changes if pk is not None}
    today = list(Skill.objects.filter(enabled=True))
    proposed = [s for s in today if s.pk not in changed]
    proposed += [p for _, p, _ in changes if p is not None and p.enabled]
    now, then = registry(today), registry(proposed)
    cache: dict = {}
    found = []
    for workflow in users:
        if _problems(workflow, now, cache):
            continue  # broken already: not this change's doing
        reasons = _problems(workflow, then, cache)
        if reasons:
            found.append(Break(workflow, reasons))
    return Breaks(found)
