"""A skill's history: every change made in the admin (form, enable/disable, import, restore,
delete) is a SkillChange with the skill's fields before and after; the history page shows who
and when with a diff, and any earlier state can be restored. A restore is a change like any
other: checked as the form checks, asking first when it would break workflows, and recorded."""

from __future__ import annotations

import difflib
import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from .models import Skill, SkillChange
from .skill_form import problems
from .skill_try import ROW_ID
from .skill_usage import impact

FIELDS = ["name", "title", "description", "category", "enabled", "action", "config", "concurrency",
          "input_schema", "output_schema"]
JSON_FIELDS = {"config", "input_schema", "output_schema"}


def snapshot(skill: Skill | None) -> dict | None:
    """The skill's fields as JSON (None for no skill)."""
    return None if skill is None else {name: getattr(skill, name) for name in FIELDS}


def record(skill: Skill | None, user, kind: str, before: dict | None, *, name: str = "") -> SkillChange | None:
    """Keep one change (nothing when the fields did not change)."""
    after = snapshot(skill)
    if before == after:
        return None
    return SkillChange.objects.create(skill=skill, name=(skill.name if skill else name) or (before or {}).get("name", ""),
                                      user=user if getattr(user, "pk", None) else None, kind=kind,
                                      before=before, after=after)


def _pretty(value) -> list[str]:
    return [] if value is None else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def diff(before: dict | None, after: dict | None) -> list[dict]:
    """Per changed field: old and new (text fields), or the lines of a unified diff (JSON ones)."""
    before, after = before or {}, after or {}
    found = []
    for name in FIELDS:
        old, new = before.get(name), after.get(name)
        if old == new or (old in (None, "") and new in (None, "")):  # a new skill's empty fields
            continue
        if name in JSON_FIELDS:
            lines = list(difflib.unified_diff(_pretty(old), _pretty(new), "before", "after", n=2, lineterm=""))[2:]
            found.append({"field": name, "lines": [{"kind": {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same"),
                                                    "text": line} for line in lines]})
        else:
            found.append({"field": name, "old": "" if old is None else str(old), "new": "" if new is None else str(new)})
    return found


def _target(model_admin, request, object_id: str, change_id: str | None = None):
    """The skill (and one of its changes), once the asker may see (and change) them."""
    skill = Skill.objects.filter(pk=object_id).first() if ROW_ID.fullmatch(str(object_id)) else None
    if skill is None:
        raise Http404("no such skill")
    if not model_admin.has_view_or_change_permission(request, skill):
        raise PermissionDenied
    if change_id is None:
        return skill, None
    change = SkillChange.objects.filter(pk=change_id, skill=skill).first() if ROW_ID.fullmatch(str(change_id)) else None
    if change is None or change.after is None:
        raise Http404("no such change of this skill")
    return skill, change


def history_view(model_admin, request, object_id: str):
    """The skill's changes, newest first, each with its diff and a Restore button."""
    skill, _ = _target(model_admin, request, object_id)
    changes = list(SkillChange.objects.filter(skill=skill).select_related("user")[:200])
    rows = [{"change": c, "diff": diff(c.before, c.after), "current": c.after == snapshot(skill)} for c in changes]
    context = {**model_admin.admin_site.each_context(request), "opts": Skill._meta, "skill": skill, "rows": rows,
               "title": f"History of {skill.name}", "may_restore": model_admin.has_change_permission(request, skill)}
    return TemplateResponse(request, "admin/builder/skill/history.html", context)


def restore_view(model_admin, request, object_id: str, change_id: str):
    """GET: what restoring this state changes, what it would break; POST: restore it."""
    skill, change = _target(model_admin, request, object_id, change_id)
    if not model_admin.has_change_permission(request, skill):
        raise PermissionDenied
    before = snapshot(skill)
    proposed = Skill.objects.get(pk=skill.pk)
    for name, value in change.after.items():
        if name in FIELDS:
            setattr(proposed, name, value)
    found = problems(proposed)
    if Skill.objects.filter(name=proposed.name).exclude(pk=skill.pk).exists():
        found.setdefault("name", []).append(f"another skill is named '{proposed.name}' now")
    breaks = impact([(skill.name, proposed, skill.pk)]) if not found else None
    status = 200
    if request.method == "POST" and not found:
        if breaks and request.POST.get("confirm_breaking") != breaks.fingerprint:
            status = 409  # shown the breaks again: they changed, or were never confirmed
        else:
            with transaction.atomic():
                proposed.save()
                record(proposed, request.user, "restored", before)
            messages.success(request, f"'{proposed.name}' is restored to its state of "
                                      f"{change.at:%Y-%m-%d %H:%M}.")
            return redirect(reverse("admin:builder_skill_change", args=[skill.pk]))
    elif request.method == "POST":
        status = 400
    context = {**model_admin.admin_site.each_context(request), "opts": Skill._meta, "skill": skill, "change": change,
               "diff": diff(before, change.after), "problems": found, "breaks": breaks,
               "title": f"Restore {skill.name}"}
    return TemplateResponse(request, "admin/builder/skill/restore.html", context, status=status)


def deleted_view(model_admin, request):
    """Skills deleted in the admin (the last deletion of each name no skill has now), each with
    its fields and a Restore button; POST ``change``: make it again, its history joined up."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    taken = set(Skill.objects.values_list("name", flat=True))
    latest: dict[str, SkillChange] = {}
    for change in SkillChange.objects.filter(kind="deleted", skill=None).select_related("user")[:1000]:
        if change.name not in taken and change.before:
            latest.setdefault(change.name, change)  # (newest first)
    problems_found, status = {}, 200
    if request.method == "POST":
        change = next((c for c in latest.values() if str(c.pk) == request.POST.get("change")), None)
        if change is None:
            raise Http404("no such deleted skill (restored already?)")
        skill = Skill(**{name: value for name, value in change.before.items() if name in FIELDS})
        problems_found = problems(skill)
        if not problems_found:
            with transaction.atomic():
                skill.save()
                SkillChange.objects.filter(skill=None, name=skill.name).update(skill=skill)
                record(skill, request.user, "restored", None)
            messages.success(request, f"'{skill.name}' is back, as it was when it was deleted.")
            return redirect(reverse("admin:builder_skill_change", args=[skill.pk]))
        status = 400
    context = {**model_admin.admin_site.each_context(request), "opts": Skill._meta, "title": "Deleted skills",
               "rows": [{"change": c, "diff": diff(None, c.before)} for c in latest.values()],
               "problems": problems_found}
    return TemplateResponse(request, "admin/builder/skill/deleted.html", context, status=status)
