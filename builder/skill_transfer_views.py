"""The admin's export and import pages for skills (builder/skill_transfer.py does the work).

Import: a file or pasted text; every problem is listed by skill name with a 400, nothing is
written; when the import would break workflows the page lists them and asks to confirm (the
text comes back in the form, with the fingerprint of the breaks shown)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from .models import Skill
from .skill_transfer import MAX_BYTES, TransferError, apply, export_yaml, plan
from .skill_usage import impact


def export_response(skills) -> HttpResponse:
    """The skills as a downloaded skills.yaml."""
    response = HttpResponse(export_yaml(skills), content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="skills.yaml"'
    return response


def export_view(model_admin, request):
    """Every skill, as one file."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    return export_response(Skill.objects.order_by("category", "name"))


def _read(request) -> tuple[str, list[str]]:
    """The text to import: the uploaded file, else the pasted text."""
    upload = request.FILES.get("file")
    if upload is not None:
        if upload.size > MAX_BYTES:
            return "", [f"the file is larger than {MAX_BYTES // (1 << 20)} MB"]
        raw = upload.read(MAX_BYTES + 1)
        try:
            return raw.decode("utf-8"), []
        except UnicodeDecodeError:
            return "", ["the file is not UTF-8 text"]
    return request.POST.get("text", ""), []


def import_view(model_admin, request):
    """GET: the form; POST: check the file, then import it (or list every problem)."""
    if not (model_admin.has_add_permission(request) and model_admin.has_change_permission(request)):
        raise PermissionDenied
    text, problems, breaks, status = "", [], None, 200
    if request.method == "POST":
        text, problems = _read(request)
        if not problems and not text.strip():
            problems = ["choose a file or paste the YAML of the skills"]
        if not problems:
            try:
                result = plan(text)
            except TransferError as exc:
                problems = exc.problems
            else:
                breaks = impact(result.changes)
                if not breaks or request.POST.get("confirm_breaking") == breaks.fingerprint:
                    created, updated = apply(result, request.user)
                    messages.success(request, f"Imported {created + updated} skill(s): {created} new, {updated} updated.")
                    return redirect(reverse("admin:builder_skill_changelist"))
                status = 409
        if problems:
            status = 400
    context = {**model_admin.admin_site.each_context(request), "opts": Skill._meta, "title": "Import skills",
               "problems": problems[:200], "more": max(0, len(problems) - 200), "breaks": breaks,
               "text": text if len(text) <= MAX_BYTES else ""}
    return TemplateResponse(request, "admin/builder/skill/import.html", context, status=status)
