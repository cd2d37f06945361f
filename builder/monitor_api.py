"""What the run monitor reads beyond ``/api/runs/{id}``: a sub-workflow step's own steps, a
foreach's items in item order, and the steps a resumed run reused.

- ``GET /api/runs/{id}/subrun?path=report``: the saved workflow a ``workflow`` step ran (its
  name, version and YAML), so the monitor can draw the child's steps. Their rows are the parent
  run's, under the step's path (``report.fetch``): the engine forwards a sub-run's events into
  the run (engine/subruns.py) and the recorder stores them like any step's. The version is the
  one the step named, or else the one that was current when the step started (the engine reads
  the current one then).
- ``GET /api/runs/{id}/items?path=each&steps=download,parse&offset=0&limit=50``: a page of a
  foreach instance's items by index (``each[0]``, ``each[1]``, …), each item's step rows in the
  order they ran (rows are stored as they happen: by row they come in no item order). With
  ``steps`` (the body's step ids) the rows are found by exact path, on the index.
- ``GET /api/runs/{id}/reused``: the step paths a resumed run took from the run it resumed
  (their ``step.succeeded`` event says ``reused``), without foreach items, which are counted.

Read-only, with the run API's rules: the run's owner, staff, or an approver the run is waiting
for (builder/approvals.py); another user's run is a 404 as a missing one.
"""

from __future__ import annotations

import re

from django.db.models import Q
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router, Schema, Status

from .approvals import visible_runs
from .models import Run, RunEvent, StepRun, Workflow, WorkflowVersion
from .schemas import MAX_INT, NO_NUL, ErrorsOut

router = Router(tags=["runs"])
ERRORS = {400: ErrorsOut, 401: ErrorsOut, 403: ErrorsOut, 404: ErrorsOut, 422: ErrorsOut}
RUN_ID = Path(..., ge=1, le=MAX_INT)
STEP_PATH = Query(..., min_length=1, max_length=500, pattern=NO_NUL)
MAX_ROWS = 2000  # rows in one page of items (50 items of a body of 40 steps)
MAX_REUSED = 5000
# step ids (ASCII, as engine/spec.py's ID_PATTERN), comma-separated: 4000 of them at most stay
# 4000 bytes in a URL (daphne drops a request line past 16 KiB without an answer)
STEP_IDS = r"^([A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*)?$"
_INDEX = re.compile(r"\[(\d+)\]")


class SubRunOut(Schema):
    path: str
    name: str
    version: int
    workflow_id: int
    yaml: str
    status: str  # the workflow step's own status


class ItemRowOut(Schema):
    item: int
    path: str
    attempt: int
    status: str
    duration_ms: float | None
    error: str


class ItemsOut(Schema):
    path: str
    total: int | None  # items the foreach has (from its progress), None before it reported any
    offset: int
    limit: int
    rows: list[ItemRowOut]


class ReusedOut(Schema):
    resumed_from: int | None
    paths: list[str]
    items: int  # foreach item steps reused (counted, not listed)


def _run(request, run_id: int) -> Run:
    return get_object_or_404(visible_runs(request.user, Run.objects.select_related("workflow")), pk=run_id)


def _not_found(detail: str) -> Status:
    return Status(404, {"detail": detail})


@router.get("/runs/{int:run_id}/subrun", response={200: SubRunOut, **ERRORS})
def sub_run(request, run_id: int = RUN_ID, path: str = STEP_PATH):
    """The saved workflow a ``workflow`` step of the run ran, to draw its steps."""
    run = _run(request, run_id)
    row = StepRun.objects.filter(run=run, path=path, uses="workflow").order_by("-attempt").first()
    if row is None:
        return _not_found(f"no workflow step '{path}' ran in run #{run.pk}")
    params = row.inputs if isinstance(row.inputs, dict) else {}
    name = params.get("name")
    if not isinstance(name, str):  # reused by a resume: it did not run here, nor did its steps
        return _not_found(f"'{path}' did not run in run #{run.pk} (its output was reused), nor did its steps")
    workflow = Workflow.objects.filter(owner_id=run.workflow.owner_id, name=name).first()
    if workflow is None:
        return _not_found(f"the workflow '{name}' that '{path}' ran is gone")
    versions = WorkflowVersion.objects.filter(workflow=workflow)
    number = params.get("version")
    if isinstance(number, int) and not isinstance(number, bool):
        version = versions.filter(number=number).first()
    else:
        before = versions.filter(created_at__lte=row.started_at) if row.started_at else versions
        version = before.order_by("-number").first() or versions.order_by("number").first()
    if version is None:
        return _not_found(f"version {number} of '{name}' is gone")
    return {"path": path, "name": name, "version": version.number, "workflow_id": workflow.pk,
            "yaml": version.yaml, "status": row.status}


@router.get("/runs/{int:run_id}/items", response={200: ItemsOut, **ERRORS})
def foreach_items(request, run_id: int = RUN_ID, path: str = STEP_PATH,
                  offset: int = Query(0, ge=0, le=10**9), limit: int = Query(50, ge=1, le=200),
                  steps: str = Query("", max_length=4000, pattern=STEP_IDS,
                                     description="the body's step ids, comma-separated: only their rows, "
                                                 "found by exact path (fast in a run of 100 000 rows)")):
    """Items ``offset`` to ``offset + limit - 1`` of the foreach instance ``path``, by index;
    each item's rows (its body's steps, every attempt) in the order they ran. Without ``steps``
    every row under each item is found by prefix, which reads all of the run's item rows."""
    run = _run(request, run_id)
    items = range(offset, offset + limit)
    if steps:
        ids = list(dict.fromkeys(steps.split(",")))[:100]
        wanted = Q(path__in=[f"{path}[{index}].{step}" for index in items for step in ids])
    else:
        wanted = Q()
        for index in items:
            wanted |= Q(path__startswith=f"{path}[{index}]")
    found = StepRun.objects.filter(run=run).filter(wanted).order_by("id").values_list(
        "path", "attempt", "status", "duration_ms", "error")[:MAX_ROWS]
    head = len(path)
    rows = []
    for step_path, attempt, status, ms, error in found:
        match = _INDEX.match(step_path, head)
        if match is None:  # a longer id that starts the same ("each" and "each2[0]" cannot: "[" follows)
            continue
        rows.append({"item": int(match.group(1)), "path": step_path, "attempt": attempt, "status": status,
                     "duration_ms": ms, "error": error})
    rows.sort(key=lambda r: r["item"])  # stable: inside an item, the order they ran
    progress = RunEvent.objects.filter(run=run, type="foreach.progress", data__path=path).order_by("-seq").first()
    total = progress.data.get("total") if progress is not None else None
    return {"path": path, "total": total, "offset": offset, "limit": limit, "rows": rows}


@router.get("/runs/{int:run_id}/reused", response={200: ReusedOut, **ERRORS})
def reused_steps(request, run_id: int = RUN_ID):
    """The steps this run reused from the run it resumed."""
    run = _run(request, run_id)
    events = RunEvent.objects.filter(run=run, type="step.succeeded", data__reused=True)
    paths, items = [], 0
    for step_path in events.order_by("seq").values_list("data__path", flat=True).iterator():
        if "[" in step_path:
            items += 1
        elif len(paths) < MAX_REUSED:
            paths.append(step_path)
    return {"resumed_from": run.resumed_from_id, "paths": paths, "items": items}
