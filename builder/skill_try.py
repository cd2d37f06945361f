""""Try it": run a skill once from the admin with sample inputs, as a real recorded run.

The run goes through the ordinary path: a workflow owned by the admin (``try-skill-<name>``,
one step ``uses: <skill>``) is saved as a new version when its text changes, a run is made by
``services.create_run`` and started by ``execution.schedule`` in the server's loop (embedded;
enqueued in the celery mode). So the skill meets every budget and sandbox a workflow's step
meets. The sample values reach the step as the run's inputs (``${inputs.i0}``), never as
YAML text: a sample holding ``${secrets.X}`` stays that text, it is not evaluated.
"""

from __future__ import annotations

import json
import re

import jsonschema
import yaml
from asgiref.sync import sync_to_async
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers

from engine import InputsInvalid

from .models import Run, Skill, Workflow
from .runtime import nul_place
from .services import Invalid, create_run, save_workflow

#: a row's id in a URL: 1 to 18 ASCII digits (more is no row, never a database overflow)
ROW_ID = re.compile(r"[0-9]{1,18}")
TRY_PREFIX = "try-skill-"
TRY_MARK = "Made by the skills admin's Try it"
MAX_SAMPLE_BYTES = 64 * 1024
_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (dict, "object"),
               (list, "array"))


def is_try_workflow(workflow: Workflow) -> bool:
    """One of the workflows "Try it" keeps (a staff owner's, with its name and mark)."""
    return (workflow.name.startswith(TRY_PREFIX) and workflow.owner.is_staff
            and f"description: {TRY_MARK}" in workflow.yaml)


def try_yaml(skill: Skill, sample: dict) -> tuple[str, dict]:
    """The try workflow's text for these sample values, and the run's inputs. Each value is an
    input of its own JSON type; a null goes into ``with`` as it is."""
    inputs, with_, declared = {}, {}, {}
    for n, (key, value) in enumerate(sample.items()):
        if value is None:
            with_[key] = None
            continue
        name = f"i{n}"
        declared[name] = {"type": next(kind for cls, kind in _JSON_TYPES if isinstance(value, cls)),
                          "description": f"the sample's {key}"[:200]}
        inputs[name] = value
        with_[key] = "${inputs.%s}" % name
    step = {"id": "try_it", "uses": skill.name}
    if with_:
        step["with"] = with_
    document = {"name": f"{TRY_PREFIX}{skill.name.lower()}", "title": f"Try it: {skill.name}",
                "description": TRY_MARK, **({"inputs": declared} if declared else {}), "steps": [step]}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100), inputs


def sample_of(run: Run) -> dict:
    """The sample values a try run was given (to show them again beside its outcome)."""
    try:
        document = yaml.safe_load(run.version.yaml)
        given = document["steps"][0].get("with") or {}
    except (yaml.YAMLError, KeyError, IndexError, TypeError, AttributeError):
        return {}
    sample = {}
    for key, value in given.items():
        name = value[len("${inputs."):-1] if isinstance(value, str) and value.startswith("${inputs.") else None
        sample[key] = run.inputs.get(name) if name else value
    return sample


def parse_sample(text: str, skill: Skill) -> tuple[dict | None, list[str]]:
    """The sample values (a JSON object checked against the skill's input schema), or problems."""
    if len(text.encode()) > MAX_SAMPLE_BYTES:
        return None, [f"the sample inputs are larger than {MAX_SAMPLE_BYTES // 1024} KB"]
    try:
        sample = json.loads(text or "{}")
    except (ValueError, RecursionError) as exc:
        return None, [f"the sample inputs are not valid JSON: {str(exc)[:200]}"]
    if not isinstance(sample, dict):
        return None, ["the sample inputs must be a JSON object: {\"name\": value, …}"]
    place = nul_place(sample, "inputs")
    if place:
        return None, [f"{place}: text may not contain the NUL character"]
    schema = skill.input_schema or {"type": "object"}
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for key, spec in properties.items():  # an empty field with a default (shown as its placeholder)
        if key not in sample and isinstance(spec, dict) and "default" in spec:
            sample[key] = spec["default"]
    try:
        errors = sorted(jsonschema.validators.validator_for(schema)(schema).iter_errors(sample), key=lambda e: list(e.path))
    except (jsonschema.SchemaError, RecursionError) as exc:
        return None, [f"the skill's input schema cannot check them: {str(exc)[:200]}"]
    found = [f"{'.'.join(map(str, e.path)) or 'inputs'}: {e.message[:300]}" for e in errors[:10]]
    return (None, found) if found else (sample, [])


def start(skill: Skill, user, sample: dict) -> Run:
    """Save the try workflow (a new version only when its text changed) and make its run;
    raise Invalid or InputsInvalid with the reason. The caller starts the run."""
    if not skill.enabled:
        raise InputsInvalid([f"'{skill.name}' is disabled: workflows cannot use it, so it cannot run; enable it first"])
    text, inputs = try_yaml(skill, sample)
    name = f"{TRY_PREFIX}{skill.name.lower()}"
    existing = Workflow.objects.filter(owner=user, name=name).first()
    if existing is not None and not is_try_workflow(existing):
        raise InputsInvalid([f"you have a workflow named '{name}' of your own: rename it to try this skill"])
    workflow = save_workflow(user, text, f"Try it: {skill.name}", existing)
    return create_run(workflow, user, inputs)


def view(model_admin):
    """The ``<id>/try/`` view: the sample form (GET) and a run started from it (POST). Async,
    so the run starts in the server's own loop, as the API's do."""

    async def try_skill(request, object_id: str):
        outcome = await sync_to_async(_handle)(model_admin, request, object_id)
        if isinstance(outcome, Run):
            from . import execution

            execution.schedule(outcome.pk)
            outcome = redirect(f"{request.path}?run={outcome.pk}")
        add_never_cache_headers(outcome)
        return outcome

    return try_skill


def _handle(model_admin, request, object_id: str):
    """Check who asks, then render the page or make the run (sync: ORM and templates)."""
    site = model_admin.admin_site
    if not site.has_permission(request):
        return redirect_to_login(request.get_full_path(), reverse("admin:login", current_app=site.name),
                                 REDIRECT_FIELD_NAME)
    skill = Skill.objects.filter(pk=object_id).first() if ROW_ID.fullmatch(str(object_id)) else None
    if skill is None:
        raise Http404("no such skill")
    if not model_admin.has_change_permission(request, skill):
        raise PermissionDenied
    sample_text, problems, status = "{}", [], 200
    if request.method == "POST":
        sample_text = request.POST.get("sample", "")
        sample, problems = parse_sample(sample_text, skill)
        if sample is not None:
            try:
                return start(skill, request.user, sample)
            except Invalid as exc:
                problems = [issue.message for issue in exc.issues[:5]]
            except InputsInvalid as exc:
                problems = exc.problems
        status = 400
    elif request.method != "GET":
        status = 405
    run = None
    wanted = request.GET.get("run", "")
    if ROW_ID.fullmatch(wanted):
        run = (Run.objects.select_related("workflow", "version").filter(
            pk=int(wanted), started_by=request.user, workflow__name=f"{TRY_PREFIX}{skill.name.lower()}").first())
        if run is not None and request.method == "GET":
            sample_text = json.dumps(sample_of(run), indent=2, ensure_ascii=False)
    context = {**site.each_context(request), "opts": Skill._meta, "skill": skill, "title": f"Try {skill.name}",
               "sample": sample_text, "problems": problems, "run": run,
               "input_schema": skill.input_schema or {"type": "object"},
               "outputs": json.dumps(run.outputs, indent=2, ensure_ascii=False) if run and run.outputs is not None else ""}
    return TemplateResponse(request, "admin/builder/skill/try.html", context, status=status).render()
