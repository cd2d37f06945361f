"""The JSON API (django-ninja): workflows, versions, validation, actions, runs.

Session auth with CSRF, or a personal API token without (builder/tokens.py), on every
endpoint; another user's object answers 404. Bad input
never answers 500: every error has the ``ErrorsOut`` body its route declares (400, 401, 403,
404, 409, 413, 422), ids and numbers are bounded to what the database stores, and lists of
rows come a page at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.gzip import gzip_page
from ninja import Field, NinjaAPI, Path, Query, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.errors import HttpError, ValidationError
from ninja.security import django_auth

from engine import InputsInvalid

from . import execution, leases, run_list
from .api_render import FastJSONRenderer
from .models import Origin, Run, RunEvent, StepRun, Workflow, WorkflowVersion
from .origins import origin_text
from .resume import ORIGINAL, NotResumable, resume_run
from .run_list import RunFilters
from .runtime import registry
from .tokens import TokenAuth, origin as token_origin
from .secrets_api import router as secrets_router
from .schemas import (
    MAX_INT,
    NO_NUL,
    ActionOut,
    ErrorsOut,
    RunDetailOut,
    RunIn,
    RunOut,
    RunSummaryOut,
    ValidateIn,
    ValidateOut,
    VersionDetailOut,
    VersionOut,
    WorkflowDetailOut,
    WorkflowIn,
    WorkflowOut,
)
from .services import (
    MAX_YAML_BYTES,
    Invalid,
    Stale,
    check_yaml,
    create_run,
    delete_workflow_and_runs,
    save_workflow,
    visible_to,
)

log = logging.getLogger(__name__)
api = NinjaAPI(title="Workflow builder API", version="1", auth=[TokenAuth(), django_auth], urls_namespace="api",
               renderer=FastJSONRenderer())
workflows = Router(tags=["workflows"])
runs = Router(tags=["runs"])

#: the error answers every route may give (401 anonymous, 403 CSRF, 404 not yours or none,
#: 400 unreadable JSON, 413 too big, 422 invalid); routes add their own (409)
ERRORS = {400: ErrorsOut, 401: ErrorsOut, 403: ErrorsOut, 404: ErrorsOut, 413: ErrorsOut, 422: ErrorsOut}
#: an id in a path: a positive 64-bit integer (a bigger one answers 422, never a database error)
WORKFLOW_ID = Path(..., ge=1, le=MAX_INT)
RUN_ID = Path(..., ge=1, le=MAX_INT)
MAX_OFFSET = 10**9


def answers(ok, more: dict | None = None) -> dict:
    """A route's responses: ``ok`` for 200 (or a {status: schema} dict) and the error bodies."""
    return {**ERRORS, **(ok if isinstance(ok, dict) else {200: ok}), **(more or {})}


@api.exception_handler(ValidationError)
def _bad_request(request, exc: ValidationError):
    """Invalid parameters or body: 422 with each problem's place (``body.yaml``, ``query.limit``)."""
    errors = [{"line": 0, "column": 0, "path": _place(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
              for e in exc.errors]
    return api.create_response(request, {"detail": "the request is not valid", "errors": errors}, status=422)


def _place(loc) -> str:
    """``body.yaml``, ``query.limit``, ``path.run_id`` (ninja names the body parameter too: left out)."""
    parts = [str(p) for p in loc]
    if len(parts) > 2 and parts[0] == "body":
        del parts[1]
    return ".".join(parts)


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc: RequestDataTooBig):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return api.create_response(request, {"detail": f"the request body is over {limit // (1 << 20)} MiB"},
                               status=413)


@api.exception_handler(DjangoValidationError)
def _invalid_value(request, exc: DjangoValidationError):
    return api.create_response(request, {"detail": "; ".join(exc.messages)}, status=422)


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc: PermissionDenied):
    return api.create_response(request, {"detail": str(exc) or "forbidden"}, status=403)


@api.exception_handler(SuspiciousOperation)
def _suspicious(request, exc: SuspiciousOperation):
    return api.create_response(request, {"detail": "bad request"}, status=400)


@api.exception_handler(Exception)
def _crash(request, exc: Exception):
    """A bug: logged with its traceback, answered without it."""
    log.error("API error on %s %s", request.method, request.path, exc_info=exc)
    return api.create_response(request, {"detail": "internal server error"}, status=500)


@api.exception_handler(Invalid)
def _invalid(request, exc: Invalid):
    return api.create_response(request, {"detail": "the workflow is not valid",
                                         "errors": [i.as_dict() for i in exc.issues]}, status=422)


@api.exception_handler(InputsInvalid)
def _bad_inputs(request, exc: InputsInvalid):
    return api.create_response(request, {"detail": str(exc), "errors": [
        {"line": 0, "column": 0, "path": "inputs", "message": p} for p in exc.problems]}, status=422)


def _limit(text: str) -> None:
    if len(text.encode("utf-8")) > MAX_YAML_BYTES:
        raise HttpError(413, "the YAML is over 1 MiB")


def _workflow(request, workflow_id: int) -> Workflow:
    return get_object_or_404(visible_to(request.user, Workflow.objects.select_related("owner")), pk=workflow_id)


def _run(request, run_id: int) -> Run:
    qs = visible_to(request.user, Run.objects.select_related("workflow", "version"), "workflow__owner")
    return get_object_or_404(qs, pk=run_id)


def _readable_run(request, run_id: int) -> Run:
    """A run to read (not to act on): also one with an approval pending that names the user."""
    from builder.approvals import visible_runs

    qs = visible_runs(request.user, Run.objects.select_related("workflow", "version"))
    return get_object_or_404(qs, pk=run_id)


def workflow_out(workflow: Workflow, last: Run | None = None) -> dict:
    data = {"id": workflow.pk, "name": workflow.name, "title": workflow.title, "version": workflow.version,
            "owner": workflow.owner.username, "created_at": workflow.created_at, "updated_at": workflow.updated_at,
            "yaml": workflow.yaml, "last_run": None, "triggers_enabled": workflow.triggers_enabled,
            "triggers": [{"id": t.trigger_id, "kind": t.kind, "token_hint": t.token_hint}
                         for t in workflow.triggers.all() if t.active]}  # the current version's
    if last is not None:
        data["last_run"] = {"id": last.pk, "status": last.status, "duration_ms": last.duration_ms,
                            "created_at": last.created_at.isoformat()}
    return data


def _owner(run: Run) -> str:
    """The workflow owner's name when the query loaded it (the run lists do); never a query here:
    run_out also answers in async views."""
    workflow = run.workflow
    return workflow.owner.username if Workflow.owner.is_cached(workflow) else ""


def run_out(run: Run, steps: bool = False) -> dict:
    data = {"id": run.pk, "workflow_id": run.workflow_id, "workflow": run.workflow.name,
            "owner": _owner(run),
            "version": run.version.number, "status": run.status, "inputs": run.inputs, "outputs": run.outputs,
            "error": run.error, "summary": run.summary, "mode": run.mode, "resumed_from": run.resumed_from_id,
            "last_seq": run.last_seq, "created_at": run.created_at, "started_at": run.started_at,
            "finished_at": run.finished_at, "duration_ms": run.duration_ms, "origin": run.origin,
            "origin_detail": run.origin_detail, "origin_text": origin_text(run.origin, run.origin_detail)}
    if steps:
        data["steps"] = list(run.steps.all())
    return data


def run_summary(run: Run) -> dict:
    """A run as the lists show it (RunSummaryOut): what a row reads, ~300 bytes whatever the run holds
    (no finished_at: started_at + duration_ms say it, and no list reads it)."""
    return {"id": run.pk, "workflow_id": run.workflow_id, "workflow": run.workflow.name, "owner": _owner(run),
            "version": run.version.number, "status": run.status, "mode": run.mode, "created_at": run.created_at,
            "started_at": run.started_at, "duration_ms": run.duration_ms,
            "origin": run.origin, "origin_detail": run.origin_detail,
            "origin_text": origin_text(run.origin, run.origin_detail)}


# -- workflows ---------------------------------------------------------------------------------
@workflows.get("/", response=answers(list[WorkflowOut]))
def list_workflows(request):
    """The user's workflows (staff: everyone's), each with its last run."""
    items = visible_to(request.user, Workflow.objects.select_related("owner")).prefetch_related(
        Prefetch("runs", queryset=Run.objects.exclude(mode="try").order_by("-created_at")[:1], to_attr="recent"),
        "triggers")
    return [workflow_out(w, w.recent[0] if w.recent else None) for w in items]


@workflows.post("/", response=answers({201: WorkflowDetailOut}))
def create_workflow(request, body: WorkflowIn):
    """Create a workflow from YAML (its version 1)."""
    _limit(body.yaml)
    return Status(201, workflow_out(save_workflow(request.user, body.yaml, body.message or "created")))


@workflows.get("/{int:workflow_id}", response=answers(WorkflowDetailOut))
def read_workflow(request, workflow_id: int = WORKFLOW_ID):
    return workflow_out(_workflow(request, workflow_id))


@workflows.put("/{int:workflow_id}", response=answers(WorkflowDetailOut, {409: ErrorsOut}))
def update_workflow(request, body: WorkflowIn, workflow_id: int = WORKFLOW_ID):
    """Save new YAML as a new version (409 when ``base_version`` is no longer the current one)."""
    _limit(body.yaml)
    workflow = _workflow(request, workflow_id)
    try:
        return workflow_out(save_workflow(request.user, body.yaml, body.message, workflow, body.base_version))
    except Stale as exc:
        return Status(409, {"detail": str(exc)})


@workflows.delete("/{int:workflow_id}", response=answers({204: None}))
async def delete_workflow(request, workflow_id: int = WORKFLOW_ID):
    """Delete a workflow with its versions and runs; its queued and running runs are cancelled first."""
    workflow = await sync_to_async(_workflow)(request, workflow_id)
    await delete_workflow_and_runs(workflow)
    return Status(204, None)


@workflows.get("/{int:workflow_id}/versions", response=answers(list[VersionOut]))
def list_versions(request, workflow_id: int = WORKFLOW_ID):
    workflow = _workflow(request, workflow_id)
    return [{"number": v.number, "message": v.message, "author": v.author.username if v.author else None,
             "created_at": v.created_at} for v in workflow.versions.select_related("author")]


@workflows.get("/{int:workflow_id}/versions/{int:number}", response=answers(VersionDetailOut))
def read_version(request, workflow_id: int = WORKFLOW_ID, number: int = Path(..., ge=1, le=MAX_INT)):
    version = get_object_or_404(WorkflowVersion.objects.select_related("author"),
                                workflow=_workflow(request, workflow_id), number=number)
    return {"number": version.number, "message": version.message, "yaml": version.yaml,
            "author": version.author.username if version.author else None, "created_at": version.created_at}


@workflows.get("/{int:workflow_id}/runs", response=answers(list[RunSummaryOut]))
@decorate_view(gzip_page)
def workflow_runs(request, workflow_id: int = WORKFLOW_ID, limit: int = Query(50, ge=1, le=500)):
    """The workflow's latest runs, newest first, as summaries (the run's own answer has the rest)."""
    workflow = _workflow(request, workflow_id)
    runs = run_list.summaries(workflow.runs.select_related("workflow__owner", "version"))
    return [run_summary(r) for r in runs[:limit]]


@workflows.post("/{int:workflow_id}/runs", response=answers({201: RunOut}))
async def start_run(request, body: RunIn, workflow_id: int = WORKFLOW_ID):
    """Start a run (inputs checked first); it goes on in the server after this answers."""
    run = await sync_to_async(_new_run)(request, workflow_id, body)
    execution.schedule(run.pk, owner_id=run.workflow.owner_id)
    return Status(201, run_out(run))


def _new_run(request, workflow_id: int, body: RunIn) -> Run:
    workflow = _workflow(request, workflow_id)
    version = None
    if body.version is not None:
        version = get_object_or_404(WorkflowVersion, workflow=workflow, number=body.version)
    # the new row holds its workflow (owner loaded) and version already: no need to read it again
    return create_run(workflow, request.user, body.inputs, version=version, **token_origin(request))


# -- validation and actions --------------------------------------------------------------------
@api.post("/validate", response=answers(ValidateOut), tags=["workflows"])
def validate(request, body: ValidateIn):
    """Every problem of a YAML text, as data (line, column, path, message)."""
    _limit(body.yaml)
    try:
        parsed = check_yaml(body.yaml, owner=request.user)
    except Invalid as exc:
        return {"valid": False, "errors": [i.as_dict() for i in exc.issues]}
    from engine import plan

    return {"valid": True, "errors": [], "steps": plan(parsed, registry()).describe(),
            "inputs": {k: v.model_dump(exclude_unset=True) for k, v in parsed.inputs.items()}}


@api.get("/actions", response=answers(list[ActionOut]), tags=["actions"], by_alias=True)
def list_actions(request):
    """Built-in actions and enabled skills, each with the JSON Schema of its `with`."""
    actions = registry()
    described = actions.describe()
    for name in actions.names():
        if not actions.is_builtin(name):
            described.append(actions.get(name).describe())
    return described


# -- runs --------------------------------------------------------------------------------------
@runs.get("/", response=answers(list[RunSummaryOut]))
@decorate_view(gzip_page)  # a poll's page: ~8 KB of JSON for 25 runs, ~1 KB gzipped (no secret in it)
def list_runs(request, response: HttpResponse, filters: Query[RunFilters]):
    """A page of my runs across workflows, newest first, as summaries (no inputs, outputs or
    summary: ``GET /api/runs/{id}`` has them); ``X-Total-Count`` says how many pass the filters
    (builder/run_list.py)."""
    rows, total = run_list.page(request.user, filters)
    response["X-Total-Count"] = str(total)
    return [run_summary(r) for r in rows]


@runs.get("/{int:run_id}", response=answers(RunDetailOut))
def read_run(request, run_id: int = RUN_ID, items: bool = False, offset: int = Query(0, ge=0, le=MAX_OFFSET),
             limit: int = Query(100, ge=1, le=1000)):
    """A run with the rows of its steps; with ``items=true`` also a page of its foreach items'
    rows (``offset``, ``limit`` up to 1000) and how many there are."""
    run = _readable_run(request, run_id)
    data = run_out(run)
    data["steps"] = list(run.steps.exclude(path__contains="["))
    if items:
        rows = run.steps.filter(path__contains="[")
        data["items"] = {"total": rows.count(), "offset": offset, "limit": limit,
                         "rows": list(rows.order_by("id")[offset:offset + limit])}
    return data


@runs.get("/{int:run_id}/steps", response=answers(list[dict]))
def run_steps(request, run_id: int = RUN_ID, prefix: str = Query("", max_length=500, pattern=NO_NUL),
              path: str | None = Query(None, max_length=500, pattern=NO_NUL),
              offset: int = Query(0, ge=0, le=MAX_OFFSET), limit: int = Query(100, ge=1, le=1000)):
    """A page of a run's step rows: one step's attempts (``path``), or those whose path starts
    with ``prefix`` (a foreach's items), with their resolved inputs (secrets redacted)."""
    run = _readable_run(request, run_id)
    rows = StepRun.objects.filter(run=run)
    rows = rows.filter(path=path) if path is not None else rows.filter(path__startswith=prefix)
    return [{"path": r.path, "attempt": r.attempt, "status": r.status, "duration_ms": r.duration_ms,
             "error": r.error, "inputs": r.inputs, "output": r.output, "output_note": r.output_note,
             "started_at": r.started_at, "finished_at": r.finished_at}
            for r in rows.order_by("id")[offset:offset + limit]]


@runs.get("/{int:run_id}/logs", response=answers(list[dict]))
def run_logs(request, path: str = Query(..., max_length=500, pattern=NO_NUL), run_id: int = RUN_ID,
             limit: int = Query(500, ge=1, le=5000)):
    """The log lines a step wrote, oldest first."""
    events = RunEvent.objects.filter(run=_readable_run(request, run_id), type="log", data__path=path).order_by("seq")
    return [{"seq": e.seq, "ts": e.data.get("ts"), "level": e.data.get("level"), "message": e.data.get("message")}
            for e in events[:limit]]


@runs.post("/{int:run_id}/cancel", response=answers(RunOut))
async def cancel_run(request, run_id: int = RUN_ID):
    """Cancel a queued or running run."""
    run = await sync_to_async(_run)(request, run_id)
    if not run.finished or run.status == Run.Status.INTERRUPTED:
        if not execution.cancel_here(run.pk):  # elsewhere: its process sees the flag (builder/leases.py)
            await sync_to_async(leases.request_cancel)(run.pk)
        for _ in range(50):  # the runner stops within a second; answer with its final state
            run = await sync_to_async(_run)(request, run_id)
            if run.finished:
                break
            await asyncio.sleep(0.02)
    return run_out(run)


@runs.post("/{int:run_id}/rerun", response=answers({201: RunOut}))
async def rerun(request, run_id: int = RUN_ID):
    """Run the same version again with the same inputs."""
    run = await sync_to_async(_rerun)(request, run_id)
    execution.schedule(run.pk)
    return Status(201, run_out(run))


class ResumeIn(Schema):
    version: Literal["original", "latest"] = Field(
        "original", description="the run's own version, or the workflow's current one (builder/resume.py)")


class ResumedOut(RunOut):
    resume: dict  # version, from_version, to_version, reused and dropped step paths


@runs.post("/{int:run_id}/resume", response=answers({201: ResumedOut}, {409: ErrorsOut}))
async def resume(request, body: ResumeIn | None = None, run_id: int = RUN_ID):
    """Resume a failed, cancelled or interrupted run: a new run that reuses its completed steps'
    outputs, with its own version or (``{"version": "latest"}``) the workflow's current one,
    where the current one still has those steps; the answer says which were reused and dropped."""
    if request.body and not isinstance(json.loads(request.body), dict):  # ninja reads `"latest"` as no body
        raise HttpError(422, 'the body must be a JSON object, such as {"version": "latest"}')
    which = body.version if body is not None else ORIGINAL
    return await started_from(request, run_id, lambda old, user: resume_run(old, user, which))


async def started_from(request, run_id: int, make):
    """Start the new run ``make(old_run, user)`` makes from one of the user's runs (a resume, a
    restart from a step): 201 with the run and its report, or the refusal (NotResumable)."""
    answer = await sync_to_async(_made_from)(request, run_id, make)
    if isinstance(answer, Status):
        return answer
    run, report = answer
    execution.schedule(run.pk)
    return Status(201, {**run_out(run), "resume": report})


def _made_from(request, run_id: int, make):
    old = _run(request, run_id)
    try:
        new, report = make(old, request.user)
    except NotResumable as exc:
        return Status(exc.status, {"detail": exc.detail, "errors": exc.errors})
    return Run.objects.select_related("workflow", "version").get(pk=new.pk), report


def _rerun(request, run_id: int) -> Run:
    old = _run(request, run_id)
    new = create_run(old.workflow, request.user, old.inputs, version=old.version, origin=Origin.RERUN,
                     origin_detail={"run": old.pk})
    return Run.objects.select_related("workflow", "version").get(pk=new.pk)


api.add_router("/workflows", workflows)
api.add_router("/runs", runs)
api.add_router("/runs", "builder.restart_api.router")
api.add_router("/secrets", secrets_router)
api.add_router("/approvals", "builder.approvals_api.router")
api.add_router("/", "builder.triggers_api.router")
api.add_router("/tokens", "builder.tokens_api.router")
api.add_router("/", "builder.webhooks_api.router")
api.add_router("/", "builder.monitor_api.router")
api.add_router("/", "builder.step_try_api.router")
