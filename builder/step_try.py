"""Trying one step of the editor's text (saved or not) with the outputs of a recorded run.

Like n8n's pinned data: the step's ``${...}`` see what the chosen run's steps returned. The
posted YAML is checked as a save would check it (the owner's secrets and workflows), then
turned into a *trial* of the same shape, so paths, ``needs`` and references stay what the
editor shows:

- the chosen step runs as written, through the normal registry, engine settings, budgets
  and secrets of a run;
- every other step is reused from the chosen run when it succeeded there with a whole output
  (the runner's ``completed``, as a resume does), else skipped (``if: false``); nothing but
  the chosen step executes;
- the blocks around it (parallel branches, groups) keep their structure but lose what would
  run or undo other steps: their ``if``, ``min_success``, hooks (``on_failure``, ``finally``),
  ``compensate`` and a ``rollback`` policy; the workflow's hooks, outputs, triggers and
  concurrency limit go too. A step inside a foreach, repeat or switch is refused (it runs per
  item, pass or case: try the block around it).

The trial is recorded as a run of the workflow (``mode="try"``, ``origin_detail`` naming the
step, the run it took its outputs from and whether the text was saved), owned like every run
of the workflow, so it is auditable and its monitor shows what ran. It is executed here, in
the request's process, and never recovered by another process: one that stops mid-trial
leaves it ``running`` (builder/leases.py skips ``try`` runs, as it skips ``cli`` runs), never
re-runs it with the saved version.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging

import yaml
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from engine import Runner, coerce_inputs, plan

from . import execution, leases
from .models import Origin, Run, StepRun, Workflow
from .recorder import RunRecorder
from .runtime import engine_settings, load_workflow, registry, secret_names_for, secrets_for
from .services import Invalid, check_yaml
from .throttle import services as shared_limits

log = logging.getLogger(__name__)
MODE = "try"
#: how long a request waits for its trial; a longer one goes on, and the answer says where to watch it
WAIT_SECONDS = 30.0
#: blocks a step inside of cannot be tried alone, and why
PER = {"foreach": "once per item", "repeat": "once per pass", "switch": "only in the case chosen"}
_HOOKS = ("on_failure", "finally", "compensate")
_DROP_TOP = ("outputs", "on_failure", "finally", "triggers", "concurrency")


class NotTryable(Exception):
    """Why this step cannot be tried: an HTTP ``status``, the words, and the place (a path)."""

    def __init__(self, status: int, message: str, path: str = ""):
        super().__init__(status, message, path)
        self.status, self.message, self.path = status, message, path


def kind_of(raw: dict) -> str:
    """A step's kind by its keys (the engine's order); ``repeat`` for a group that repeats."""
    for key in ("switch", "foreach", "parallel", "uses"):
        if key in raw:
            return "action" if key == "uses" else key
    return "repeat" if raw.get("repeat") is not None else "group"


def build_trial(data: dict, path: str, recorded: dict) -> tuple[dict, list[str], list[str]]:
    """The trial workflow for step ``path`` of ``data`` (the parsed YAML), with the paths of the
    steps it reuses (those in ``recorded``, the chosen run's outputs) and of those it skips."""
    parts = path.split(".")
    reused, skipped = [], []

    def other(raw, where: str):
        if where in recorded:
            reused.append(where)
            return {k: v for k, v in raw.items() if k != "compensate"}
        skipped.append(where)
        return {**{k: v for k, v in raw.items() if k not in _HOOKS}, "if": False}

    def around(raw: dict, where: str, rest: list[str]) -> dict:
        kind = kind_of(raw)
        if kind in PER:
            raise NotTryable(400, f"{path} is inside {kind} {where}, which runs its steps {PER[kind]}: "
                                  f"try {where} as a whole", where)
        block = {k: v for k, v in raw.items() if k not in ("if", "min_success", *_HOOKS)}
        if block.get("on_error") == "rollback":
            block["on_error"] = "fail_fast"  # nothing of the recorded run is ever undone
        key = "parallel" if kind == "parallel" else "steps"
        block[key] = walk(raw.get(key) or [], f"{where}.", rest)
        return block

    def walk(steps: list, prefix: str, rest: list[str]) -> list:
        out, found = [], False
        for raw in steps:
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
                out.append(raw)
                continue
            where = prefix + raw["id"]
            if raw["id"] == rest[0]:
                found = True
                out.append(raw if len(rest) == 1 else around(raw, where, rest[1:]))
            else:
                out.append(other(raw, where))
        if not found:
            raise NotTryable(404, f"there is no step {path} in this text", path)
        return out

    trial = {k: v for k, v in data.items() if k not in _DROP_TOP}
    if trial.get("on_error") == "rollback":
        trial["on_error"] = "fail_fast"
    trial["steps"] = walk(data.get("steps") or [], "", parts)
    return trial, reused, skipped


def recorded_outputs(run: Run, path: str) -> dict:
    """The chosen run's whole outputs by step path, without the tried step, what is inside it
    and the blocks around it (those run again: the trial's own structure)."""
    parts = path.split(".")
    around = {".".join(parts[:i]) for i in range(1, len(parts))}
    rows = StepRun.objects.filter(run=run, status="succeeded", output_note="").order_by("id")
    return {p: out for p, out in rows.values_list("path", "output")
            if p not in around and p != path and not p.startswith((f"{path}.", f"{path}["))}


def prepare(workflow: Workflow, user, text: str, path: str, source: Run) -> tuple[Run, object, dict, dict]:
    """Check the text and the step, record the trial run (queued): ``(run, trial workflow,
    completed, summary)``. Raise Invalid for the text, NotTryable for the step."""
    check_yaml(text, owner=workflow.owner)  # every limit of the source first (size, depth, aliases)
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    recorded = recorded_outputs(source, path)
    trial, reused, skipped = build_trial(data, path, recorded)
    names = set(Workflow.objects.filter(owner=workflow.owner).values_list("name", flat=True))
    try:
        parsed = load_workflow(yaml.safe_dump(trial, sort_keys=False, allow_unicode=True), "trial.yaml",
                               secret_names=secret_names_for(workflow.owner), workflow_names=names)
    except Exception as exc:  # noqa: BLE001 - WorkflowInvalid: the trial of a valid text should load
        issues = getattr(exc, "issues", None)
        if issues is None:
            raise
        raise Invalid(issues) from None
    coerce_inputs(parsed, source.inputs)  # InputsInvalid: the text asks for inputs the run did not have
    summary = {"step": path, "from_run": source.pk, "saved": text == workflow.yaml,
               "reused": reused, "skipped": skipped}
    run = Run.objects.create(workflow=workflow, version=workflow.current_version(), started_by=user,
                             inputs=source.inputs, mode=MODE, origin=Origin.MANUAL,
                             origin_detail={"try": path, "from_run": source.pk, "saved": summary["saved"]})
    return run, parsed, recorded, summary


async def execute(run: Run, parsed, completed: dict) -> None:
    """Run the trial here, holding its lease like any run (renewed, cancellable from its monitor)."""
    claimed = await sync_to_async(leases.claim)(run.pk, execution.worker_name())
    if claimed is None:
        return
    owner = await sync_to_async(lambda: run.workflow.owner)()
    actions = await sync_to_async(registry)()
    secret_values = await sync_to_async(secrets_for)(owner)
    services = {"workflows": execution.saved_workflows(owner.pk), **shared_limits()}
    runner = Runner(actions, engine_settings(), secrets=secret_values, services=services)
    # no owner_id: a trial is not the workflow's last run, so the live list is not told of it
    recorder = RunRecorder(run.pk, workflow_id=run.workflow_id, on_fatal=lambda: runner.cancel(str(run.pk)),
                           interval=settings.WORKFLOW_STREAM_INTERVAL)
    await recorder.start()
    execution.ACTIVE[run.pk] = runner
    execution._watch()  # the lease renewed, the Cancel button heard (builder/execution.py)
    try:
        await runner.run(plan(parsed, actions), run.inputs, recorder, run_id=str(run.pk), completed=completed)
    except Exception as exc:  # noqa: BLE001 - recorded on the run, as execution does
        log.exception("trial run %s crashed", run.pk)
        await Run.objects.filter(pk=run.pk).aupdate(status=Run.Status.FAILED, finished_at=timezone.now(),
                                                    error=f"internal error: {type(exc).__name__}: {exc}")
    finally:
        if execution.ACTIVE.get(run.pk) is runner:
            del execution.ACTIVE[run.pk]
        await recorder.close()
        await sync_to_async(leases.release)(run.pk)


async def try_step(workflow: Workflow, user, text: str, path: str, source: Run) -> dict:
    """Prepare, run (waiting up to WAIT_SECONDS) and describe a trial of step ``path``."""
    run, parsed, completed, summary = await sync_to_async(prepare)(workflow, user, text, path, source)
    # in a context of its own, as execution.wake starts runs: not the request's (asgiref's)
    task = asyncio.get_running_loop().create_task(execute(run, parsed, completed), context=contextvars.Context())
    execution._TASKS.add(task)  # kept alive past a request that gives up waiting
    task.add_done_callback(execution._TASKS.discard)
    try:
        await asyncio.wait_for(asyncio.shield(task), WAIT_SECONDS)
    except asyncio.TimeoutError:
        pass
    return await sync_to_async(describe)(run.pk, path, summary)


def describe(run_id: int, path: str, summary: dict) -> dict:
    """The trial's answer: the run, and the tried step's last attempt (status, output, error)."""
    run = Run.objects.get(pk=run_id)
    row = StepRun.objects.filter(run_id=run_id, path=path).order_by("-attempt", "-id").first()
    step = None if row is None else {
        "path": path, "status": row.status, "attempt": row.attempt, "duration_ms": row.duration_ms,
        "output": row.output, "output_note": row.output_note, "error": row.error}
    return {**summary, "run_id": run.pk, "status": run.status, "error": run.error, "monitor": f"/runs/{run.pk}/",
            "step": step}
