"""``/api/workflows/{id}/last-run`` (each step's status, duration and a peek at its output in
the latest run of a version, for the editor's cards) and ``/api/workflows/{id}/try-step`` (one
step of the editor's text tried with that run's outputs: builder/step_try.py).

The API's own authentication and CSRF rules apply (the router is mounted on ``api``); another
user's workflow, or a run of another workflow, is a 404. The posted text is bounded where it
enters (1 MiB, no NUL) and checked as a save checks it: a text that does not load is a 400
with every problem's line, column and place; a step that cannot be tried alone a 400 (404:
no such step) that says why; inputs the chosen run's no longer fit a 400 naming them.
"""

from __future__ import annotations

import json
import re

from asgiref.sync import sync_to_async
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router, Schema, Status
from pydantic import Field

from engine import InputsInvalid

from .models import Run, StepRun, Workflow
from .schemas import MAX_INT, NO_NUL, ErrorsOut
from .services import MAX_YAML_BYTES, Invalid, visible_to
from .step_try import MODE, NotTryable, try_step

router = Router(tags=["workflows"])
ERRORS = {400: ErrorsOut, 401: ErrorsOut, 403: ErrorsOut, 404: ErrorsOut, 413: ErrorsOut, 422: ErrorsOut}
WORKFLOW_ID = Path(..., ge=1, le=MAX_INT)
PEEK = 160  # characters of an output shown on a card
_INDEX = re.compile(r"\[\d+\]")


class TryIn(Schema):
    yaml: str = Field(min_length=1, pattern=NO_NUL, description="the editor's text, saved or not")
    step: str = Field(min_length=1, max_length=500, pattern=r"^[A-Za-z0-9_.]+$",
                      description="the step's path: fetch, analyses.by_region")
    run: int | None = Field(None, ge=1, le=MAX_INT, description="the run whose outputs the step sees "
                            "(default: the latest of the workflow's current version)")


class TriedStepOut(Schema):
    path: str
    status: str
    attempt: int
    duration_ms: float | None
    output: object = None
    output_note: str = ""
    error: str = ""


class TryOut(Schema):
    run_id: int = Field(description="the trial, recorded as a run of the workflow (mode 'try')")
    status: str
    error: str
    monitor: str
    step: TriedStepOut | None = Field(description="the tried step's last attempt (none yet: still queued)")
    from_run: int | None
    saved: bool = Field(description="whether the text tried was the saved version's")
    reused: list[str] = Field(description="steps whose recorded outputs the trial reused")
    skipped: list[str] = Field(description="steps with no whole recorded output: skipped")


class StepPeekOut(Schema):
    status: str
    duration_ms: float | None
    attempt: int
    peek: str = Field(description="the output as JSON, cut to a card's line")
    error: str = ""
    items: int = Field(0, description="foreach items (their step paths without indexes)")
    failed: int = 0


class LastRunOut(Schema):
    run: dict | None = Field(description="{id, status, duration_ms, created_at, version}, or none yet")
    steps: dict[str, StepPeekOut]


def _workflow(request, workflow_id: int) -> Workflow:
    return get_object_or_404(visible_to(request.user, Workflow.objects.select_related("owner")), pk=workflow_id)


def _latest(workflow: Workflow, number: int | None) -> Run | None:
    """The latest run of the version (not a trial): what the editor's cards show."""
    runs = workflow.runs.exclude(mode=MODE).filter(version__number=number or workflow.version)
    return runs.select_related("version").order_by("-created_at", "-pk").first()


def _peek(output) -> str:
    text = json.dumps(output, ensure_ascii=False, default=str)
    return text if len(text) <= PEEK else text[:PEEK - 1] + "…"


def step_peeks(run: Run) -> dict[str, dict]:
    """Each step's last attempt by path; foreach items folded into their path without indexes."""
    found: dict[str, dict] = {}
    rows = StepRun.objects.filter(run=run).order_by("id").values_list(
        "path", "status", "duration_ms", "attempt", "output", "output_note", "error")
    last = {}
    for path, *rest in rows:
        last[path] = rest
    for path, (status, duration, attempt, output, note, error) in last.items():
        shown = _INDEX.sub("", path)
        if shown == path:
            peek = note or ("" if output is None else _peek(output))
            found.setdefault(path, {}).update(status=status, duration_ms=duration, attempt=attempt, peek=peek,
                                              error=error[:300])
            continue
        entry = found.setdefault(shown, {"status": status, "duration_ms": 0.0, "attempt": 1, "peek": "",
                                         "error": "", "items": 0, "failed": 0})
        if "items" not in entry:
            continue  # the step itself was recorded too (never for a body step: its copies are)
        entry["items"] += 1
        entry["duration_ms"] = (entry["duration_ms"] or 0.0) + (duration or 0.0)
        if status == "failed":
            entry["failed"] += 1
            entry["status"], entry["error"] = "failed", entry["error"] or error[:300]
    return found


@router.get("/workflows/{int:workflow_id}/last-run", response={200: LastRunOut, **ERRORS})
def last_run(request, workflow_id: int = WORKFLOW_ID, version: int | None = Query(None, ge=1, le=MAX_INT)):
    """The latest run of a version of the workflow (default: its current one), step by step."""
    workflow = _workflow(request, workflow_id)
    run = _latest(workflow, version)
    if run is None:
        return {"run": None, "steps": {}}
    return {"run": {"id": run.pk, "status": run.status, "duration_ms": run.duration_ms,
                    "created_at": run.created_at.isoformat(), "version": run.version.number},
            "steps": step_peeks(run)}


def _source(request, workflow_id: int, run_id: int | None) -> tuple[Workflow, Run]:
    workflow = _workflow(request, workflow_id)
    if run_id is not None:
        run = get_object_or_404(Run.objects.exclude(mode=MODE), pk=run_id, workflow=workflow)
    else:
        run = _latest(workflow, None)
        if run is None:
            raise NotTryable(409, "this version has no run to take outputs from yet: run it once, then try a step")
    return workflow, run


def _issues(message: str, path: str = "") -> dict:
    return {"detail": message, "errors": [{"line": 0, "column": 0, "path": path, "message": message}]}


@router.post("/workflows/{int:workflow_id}/try-step", response={200: TryOut, 409: ErrorsOut, **ERRORS})
async def try_one_step(request, body: TryIn, workflow_id: int = WORKFLOW_ID):
    """Run one step of the posted text with the outputs of a recorded run (the latest of the
    current version by default) as its ``${...}`` context, without saving; recorded as a run."""
    if len(body.yaml.encode("utf-8")) > MAX_YAML_BYTES:
        return Status(413, {"detail": "the YAML is over 1 MiB"})
    try:
        workflow, source = await sync_to_async(_source)(request, workflow_id, body.run)
        return await try_step(workflow, request.user, body.yaml, body.step, source)
    except Invalid as exc:
        return Status(400, {"detail": "the text does not load: fix it, then try the step",
                            "errors": [i.as_dict() for i in exc.issues]})
    except NotTryable as exc:
        return Status(exc.status, _issues(exc.message, exc.path))
    except InputsInvalid as exc:
        return Status(400, {"detail": f"the run's inputs do not fit this text: {exc}", "errors": [
            {"line": 0, "column": 0, "path": "inputs", "message": p} for p in exc.problems]})
