"""The JSON API (django-ninja): workflows, versions, validation, actions, runs.

Session auth with CSRF on every endpoint; another user's object answers 404.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from ninja import NinjaAPI, Query, Router, Status
from ninja.errors import HttpError
from ninja.security import django_auth

from engine import InputsInvalid

from . import execution
from .models import Run, RunEvent, StepRun, Workflow, WorkflowVersion
from .runtime import registry
from .schemas import (
    ActionOut,
    ErrorsOut,
    RunDetailOut,
    RunIn,
    RunOut,
    ValidateIn,
    ValidateOut,
    VersionDetailOut,
    VersionOut,
    WorkflowDetailOut,
    WorkflowIn,
    WorkflowOut,
)
from .services import MAX_YAML_BYTES, Invalid, Stale, check_yaml, create_run, save_workflow, visible_to

api = NinjaAPI(title="Workflow builder API", version="1", auth=django_auth, urls_namespace="api")
workflows = Router(tags=["workflows"])
runs = Router(tags=["runs"])


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


def workflow_out(workflow: Workflow, last: Run | None = None) -> dict:
    data = {"id": workflow.pk, "name": workflow.name, "title": workflow.title, "version": workflow.version,
            "owner": workflow.owner.username, "created_at": workflow.created_at, "updated_at": workflow.updated_at,
            "yaml": workflow.yaml, "last_run": None}
    if last is not None:
        data["last_run"] = {"id": last.pk, "status": last.status, "duration_ms": last.duration_ms,
                            "created_at": last.created_at.isoformat()}
    return data


def run_out(run: Run, steps: bool = False) -> dict:
    data = {"id": run.pk, "workflow_id": run.workflow_id, "workflow": run.workflow.name,
            "version": run.version.number, "status": run.status, "inputs": run.inputs, "outputs": run.outputs,
            "error": run.error, "summary": run.summary, "mode": run.mode, "resumed_from": run.resumed_from_id,
            "last_seq": run.last_seq, "created_at": run.created_at, "started_at": run.started_at,
            "finished_at": run.finished_at, "duration_ms": run.duration_ms}
    if steps:
        data["steps"] = list(run.steps.all())
    return data


# -- workflows ---------------------------------------------------------------------------------
@workflows.get("/", response=list[WorkflowOut])
def list_workflows(request):
    """The user's workflows (staff: everyone's), each with its last run."""
    items = visible_to(request.user, Workflow.objects.select_related("owner")).prefetch_related(
        Prefetch("runs", queryset=Run.objects.order_by("-created_at")[:1], to_attr="recent"))
    return [workflow_out(w, w.recent[0] if w.recent else None) for w in items]


@workflows.post("/", response={201: WorkflowDetailOut, 422: ErrorsOut, 413: ErrorsOut})
def create_workflow(request, body: WorkflowIn):
    """Create a workflow from YAML (its version 1)."""
    _limit(body.yaml)
    return Status(201, workflow_out(save_workflow(request.user, body.yaml, body.message or "created")))


@workflows.get("/{int:workflow_id}", response=WorkflowDetailOut)
def read_workflow(request, workflow_id: int):
    return workflow_out(_workflow(request, workflow_id))


@workflows.put("/{int:workflow_id}", response={200: WorkflowDetailOut, 409: ErrorsOut, 422: ErrorsOut,
                                               413: ErrorsOut})
def update_workflow(request, workflow_id: int, body: WorkflowIn):
    """Save new YAML as a new version (409 when ``base_version`` is no longer the current one)."""
    _limit(body.yaml)
    workflow = _workflow(request, workflow_id)
    try:
        return workflow_out(save_workflow(request.user, body.yaml, body.message, workflow, body.base_version))
    except Stale as exc:
        return Status(409, {"detail": str(exc)})


@workflows.delete("/{int:workflow_id}", response={204: None})
def delete_workflow(request, workflow_id: int):
    _workflow(request, workflow_id).delete()
    return Status(204, None)


@workflows.get("/{int:workflow_id}/versions", response=list[VersionOut])
def list_versions(request, workflow_id: int):
    workflow = _workflow(request, workflow_id)
    return [{"number": v.number, "message": v.message, "author": v.author.username if v.author else None,
             "created_at": v.created_at} for v in workflow.versions.select_related("author")]


@workflows.get("/{int:workflow_id}/versions/{int:number}", response=VersionDetailOut)
def read_version(request, workflow_id: int, number: int):
    version = get_object_or_404(WorkflowVersion.objects.select_related("author"),
                                workflow=_workflow(request, workflow_id), number=number)
    return {"number": version.number, "message": version.message, "yaml": version.yaml,
            "author": version.author.username if version.author else None, "created_at": version.created_at}


@workflows.get("/{int:workflow_id}/runs", response=list[RunOut])
def workflow_runs(request, workflow_id: int, limit: int = Query(50, ge=1, le=500)):
    workflow = _workflow(request, workflow_id)
    return [run_out(r) for r in workflow.runs.select_related("workflow", "version")[:limit]]


@workflows.post("/{int:workflow_id}/runs", response={201: RunOut, 422: ErrorsOut})
async def start_run(request, workflow_id: int, body: RunIn):
    """Start a run (inputs checked first); it goes on in the server after this answers."""
    run = await sync_to_async(_new_run)(request, workflow_id, body)
    execution.schedule(run.pk)
    return Status(201, run_out(run))


def _new_run(request, workflow_id: int, body: RunIn) -> Run:
    workflow = _workflow(request, workflow_id)
    version = None
    if body.version is not None:
        version = get_object_or_404(WorkflowVersion, workflow=workflow, number=body.version)
    run = create_run(workflow, request.user, body.inputs, version=version)
    return Run.objects.select_related("workflow", "version").get(pk=run.pk)


# -- validation and actions --------------------------------------------------------------------
@api.post("/validate", response={200: ValidateOut, 413: ErrorsOut}, tags=["workflows"])
def validate(request, body: ValidateIn):
    """Every problem of a YAML text, as data (line, column, path, message)."""
    _limit(body.yaml)
    try:
        parsed = check_yaml(body.yaml)
    except Invalid as exc:
        return {"valid": False, "errors": [i.as_dict() for i in exc.issues]}
    from engine import plan

    return {"valid": True, "errors": [], "steps": plan(parsed, registry()).describe(),
            "inputs": {k: v.model_dump(exclude_unset=True) for k, v in parsed.inputs.items()}}


@api.get("/actions", response=list[ActionOut], tags=["actions"], by_alias=True)
def list_actions(request):
    """Built-in actions and enabled skills, each with the JSON Schema of its `with`."""
    actions = registry()
    described = actions.describe()
    for name in actions.names():
        if not actions.is_builtin(name):
            described.append(actions.get(name).describe())
    return described


# -- runs --------------------------------------------------------------------------------------
@runs.get("/", response=list[RunOut])
def list_runs(request, workflow: int | None = None, status: str | None = None,
              limit: int = Query(50, ge=1, le=500)):
    qs = visible_to(request.user, Run.objects.select_related("workflow", "version"), "workflow__owner")
    if workflow is not None:
        qs = qs.filter(workflow_id=workflow)
    if status:
        qs = qs.filter(status=status)
    return [run_out(r) for r in qs[:limit]]


@runs.get("/{int:run_id}", response=RunDetailOut)
def read_run(request, run_id: int, items: bool = False):
    """A run with its steps (foreach items' steps too with ``items=true``)."""
    run = _run(request, run_id)
    data = run_out(run)
    steps = run.steps.all()
    if not items:
        steps = steps.exclude(path__contains="[")
    data["steps"] = list(steps)
    return data


@runs.get("/{int:run_id}/steps", response=list[dict])
def run_steps(request, run_id: int, prefix: str = "", path: str | None = None, offset: int = Query(0, ge=0),
              limit: int = Query(100, ge=1, le=1000)):
    """A page of a run's step rows: one step's attempts (``path``), or those whose path starts
    with ``prefix`` (a foreach's items), with their resolved inputs (secrets redacted)."""
    run = _run(request, run_id)
    rows = StepRun.objects.filter(run=run)
    rows = rows.filter(path=path) if path is not None else rows.filter(path__startswith=prefix)
    return [{"path": r.path, "attempt": r.attempt, "status": r.status, "duration_ms": r.duration_ms,
             "error": r.error, "inputs": r.inputs, "output": r.output, "output_note": r.output_note,
             "started_at": r.started_at, "finished_at": r.finished_at}
            for r in rows.order_by("id")[offset:offset + limit]]


@runs.get("/{int:run_id}/logs", response=list[dict])
def run_logs(request, run_id: int, path: str, limit: int = Query(500, ge=1, le=5000)):
    """The log lines a step wrote, oldest first."""
    events = RunEvent.objects.filter(run=_run(request, run_id), type="log", data__path=path).order_by("seq")
    return [{"seq": e.seq, "ts": e.data.get("ts"), "level": e.data.get("level"), "message": e.data.get("message")}
            for e in events[:limit]]


@runs.post("/{int:run_id}/cancel", response=RunOut)
async def cancel_run(request, run_id: int):
    """Cancel a queued or running run."""
    run = await sync_to_async(_run)(request, run_id)
    if not run.finished or run.status == Run.Status.INTERRUPTED:
        if not execution.cancel_here(run.pk):
            await Run.objects.filter(pk=run.pk, status__in=[*Run.ACTIVE, Run.Status.INTERRUPTED]).aupdate(
                status=Run.Status.CANCELLED, error="cancelled")
        for _ in range(50):  # the runner stops within a second; answer with its final state
            run = await sync_to_async(_run)(request, run_id)
            if run.finished:
                break
            await asyncio.sleep(0.02)
    return run_out(run)


@runs.post("/{int:run_id}/rerun", response={201: RunOut, 422: ErrorsOut})
async def rerun(request, run_id: int):
    """Run the same version again with the same inputs."""
    run = await sync_to_async(_again)(request, run_id, resume=False)
    execution.schedule(run.pk)
    return Status(201, run_out(run))


@runs.post("/{int:run_id}/resume", response={201: RunOut, 409: ErrorsOut, 422: ErrorsOut})
async def resume(request, run_id: int):
    """Run a failed, cancelled or interrupted run again, reusing its succeeded steps' outputs."""
    run = await sync_to_async(_again)(request, run_id, resume=True)
    execution.schedule(run.pk)
    return Status(201, run_out(run))


def _again(request, run_id: int, resume: bool) -> Run:
    old = _run(request, run_id)
    if resume and old.status not in (Run.Status.FAILED, Run.Status.CANCELLED, Run.Status.INTERRUPTED):
        raise HttpError(409, f"only a failed, cancelled or interrupted run can be resumed (this one is {old.status})")
    new = create_run(old.workflow, request.user, old.inputs, version=old.version,
                     resumed_from=old if resume else None)
    return Run.objects.select_related("workflow", "version").get(pk=new.pk)


api.add_router("/workflows", workflows)
api.add_router("/runs", runs)

