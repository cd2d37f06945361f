"""What the API, the admin and the commands do with workflows and runs (sync, ORM)."""

from __future__ import annotations

import asyncio
import threading

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction

from engine import InputsInvalid, Issue, UnstorableValue, WorkflowInvalid, coerce_inputs, normalize

from . import concurrency
from . import triggers
from .models import Origin, Run, Workflow, WorkflowVersion
from .runtime import load_workflow, nul_place, registry, secrets_for

MAX_YAML_BYTES = 1 << 20


class Invalid(Exception):
    """The YAML breaks the format: ``issues`` says where and why."""

    def __init__(self, issues: list[Issue]):
        super().__init__(issues)
        self.issues = issues


def check_yaml(text: str, filename: str = "workflow.yaml", owner=None):
    """The loaded workflow, or raise Invalid with every issue; ``${secrets.X}`` must name one
    of the secrets ``owner`` may use, a ``workflow`` step one of the owner's workflows."""
    return _checked(text, filename, owner)[0]


def _checked(text: str, filename: str, owner):
    """``check_yaml``'s workflow, with the registry and the secrets it was checked against."""
    names = None if owner is None or owner.pk is None else set(
        Workflow.objects.filter(owner=owner).values_list("name", flat=True))
    actions, secret_values = registry(), secrets_for(owner)
    try:
        parsed = load_workflow(text, filename, actions, secret_names=sorted(secret_values), workflow_names=names)
    except WorkflowInvalid as exc:
        raise Invalid(exc.issues) from None
    return parsed, actions, secret_values


#: run id -> (its workflow as create_run loaded it, the YAML, the registry and the owner's secrets
#: it was checked against): the run's start in this process takes the workflow (once) instead of
#: loading the same YAML again, when its secrets (read again at run time) have the same names. A loaded workflow does not depend on the file's name; taken only
#: when the skills are still the same. Bounded: the runs of a celery mode's web process, or those
#: another process claims, are never taken here.
_LOADED: dict[int, tuple] = {}
_LOADED_LOCK = threading.Lock()
LOADED_MAX = 32


def take_loaded(run_id: int, text: str, actions) -> tuple | None:
    """(workflow, the secret values it was checked against) create_run loaded for this run from
    ``text`` with the registry ``actions``, else None (the text is compared too: a rolled-back run's id may come again)."""
    with _LOADED_LOCK:
        found = _LOADED.pop(run_id, None)
    if found is None:
        return None
    parsed, loaded_from, checked_with, secret_values = found
    return (parsed, secret_values) if loaded_from == text and checked_with is actions else None


def _hand_over(run: Run, text: str, parsed, actions, secret_values) -> None:
    if run.status != Run.Status.QUEUED or settings.WORKFLOW_EXECUTION != "embedded":
        return
    with _LOADED_LOCK:
        _LOADED[run.pk] = (parsed, text, actions, secret_values)
        while len(_LOADED) > LOADED_MAX:
            del _LOADED[next(iter(_LOADED))]  # the oldest: a run that started elsewhere


def visible_to(user, queryset, owner_field: str = "owner"):
    """Objects a user may see: their own, or all of them for staff."""
    if user.is_staff:
        return queryset
    return queryset.filter(**{owner_field: user})


class Stale(Exception):
    """The workflow got a newer version since the editor loaded the one it changed."""

    def __init__(self, current: int):
        super().__init__(f"this workflow is at version {current} now: someone saved since you opened it")
        self.current = current


@transaction.atomic
def save_workflow(user, text: str, message: str = "", workflow: Workflow | None = None,
                  base_version: int | None = None) -> Workflow:
    """Create a workflow, or add a version to one; the YAML must be valid. With
    ``base_version``, refuse (Stale) when the workflow has moved past that version. The same
    text as the current version is no new version, whoever saves it and with whatever message
    (a re-run of a file, ``make run`` again)."""
    owner = workflow.owner if workflow else user
    parsed = check_yaml(text, owner=owner)
    unstorable = _unstorable(parsed, text)
    if unstorable:
        raise Invalid(unstorable)
    clash = Workflow.objects.filter(owner=owner, name=parsed.name)
    if workflow is not None:
        clash = clash.exclude(pk=workflow.pk)
    if clash.exists():
        raise Invalid([Issue(1, 1, "name", f"you already have a workflow named '{parsed.name}'")])
    if workflow is None:
        workflow = Workflow(owner=user, version=0)
    elif workflow.yaml == text:
        return workflow
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk) if workflow.pk else workflow
    if base_version is not None and workflow.pk and workflow.version != base_version:
        raise Stale(workflow.version)
    workflow.name = parsed.name
    workflow.title = parsed.title or ""
    workflow.yaml = text
    workflow.version += 1
    workflow.save()
    # the commands' and the import's notes name a path or file: cut to what the column holds
    message = message.replace("\x00", "")[:WorkflowVersion._meta.get_field("message").max_length]
    WorkflowVersion.objects.create(workflow=workflow, number=workflow.version, yaml=text, author=user,
                                   message=message)
    triggers.sync(workflow, parsed)  # the current version's triggers act, the others no longer
    return workflow


def _unstorable(parsed, text: str) -> list[Issue]:
    """What valid YAML may hold but the database's columns cannot: PostgreSQL enforces their
    lengths and refuses the NUL character (YAML's "\\0"). SQLite would store it all, but the
    product is the same on both."""
    issues = []
    title, limit = parsed.title or "", Workflow._meta.get_field("title").max_length
    line = next((n for n, row in enumerate(text.splitlines(), 1) if row.startswith("title:")), 1)
    if len(title) > limit:
        issues.append(Issue(line, 1, "title", f"the title is longer than {limit} characters"))
    if nul_place(title, "title"):
        issues.append(Issue(line, 1, "title", "the title may not contain the NUL character"))
    # (a step id over the step_id column's 100 characters the loader refuses: engine.spec.ID_PATTERN)
    return issues


def create_run(workflow: Workflow, user, inputs: dict | None, *, version: WorkflowVersion | None = None,
               resumed_from: Run | None = None, mode: str | None = None, origin: str | None = None,
               origin_detail: dict | None = None) -> Run:
    """A queued Run with checked inputs; raise InputsInvalid or Invalid first. ``origin`` says
    where it came from (models.Origin; by default: resume when resumed, cli in the cli mode,
    else manual) with its details (``origin_detail``)."""
    if origin is None:
        origin = Origin.RESUME if resumed_from is not None else Origin.CLI if mode == "cli" else Origin.MANUAL
    if origin_detail is None and resumed_from is not None:
        origin_detail = {"run": resumed_from.pk}
    version = version or workflow.current_version()
    parsed, actions, secret_values = _checked(version.yaml, "workflow.yaml", workflow.owner)
    values = coerce_inputs(parsed, inputs)
    # a person's input holding the NUL character (a default's YAML "\0") is refused, not changed
    place = nul_place(values, "inputs")
    if place:
        raise InputsInvalid([f"{place}: text may not contain the NUL character"])
    try:  # stored and sent as JSON: NaN, Infinity or 5,000-digit numbers are refused here
        values = normalize(values, "inputs")
    except UnstorableValue as exc:
        raise InputsInvalid([str(exc)]) from None
    # the workflow's concurrency limit may make it skipped, or cancel older runs (builder/concurrency.py)
    run = concurrency.create_run(parsed.concurrency, workflow=workflow, version=version, started_by=user,
                                 inputs=values, mode=mode or settings.WORKFLOW_EXECUTION, resumed_from=resumed_from,
                                 origin=origin, origin_detail=origin_detail or {})
    _hand_over(run, version.yaml, parsed, actions, secret_values)
    return run


def completed_outputs(run: Run, version: WorkflowVersion | None = None) -> dict:
    """Outputs of a run's succeeded steps, by path, for resuming it (cut outputs are re-run);
    with another ``version`` (a resume with the latest), only those of steps that version still
    has (builder/resume.py)."""
    from .resume import completed_for

    return completed_for(run, version)


async def delete_workflow_and_runs(workflow: Workflow) -> None:
    """Delete a workflow with its versions and all its runs (steps, events). Its queued and
    running runs are cancelled first, and those running in this process are given up to 5 s
    to stop, so no runner writes rows of a run that is gone."""
    from . import execution  # execution imports this module

    active = [pk async for pk in Run.objects.filter(workflow=workflow, status__in=Run.ACTIVE)
              .values_list("pk", flat=True)]
    for pk in active:
        if not execution.cancel_here(pk):
            await Run.objects.filter(pk=pk, status__in=Run.ACTIVE).aupdate(
                status=Run.Status.CANCELLED, error="cancelled: its workflow was deleted")
    for _ in range(250):
        if not any(pk in execution.ACTIVE for pk in active):
            break
        await asyncio.sleep(0.02)
    await sync_to_async(_delete)(workflow.pk)


@transaction.atomic
def _delete(workflow_id: int) -> None:
    Workflow.objects.filter(pk=workflow_id).delete()  # versions and runs go with it (Run.version: RESTRICT)
