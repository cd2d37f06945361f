"""Resuming a run: a new run that reuses the outputs of the steps an earlier one completed.

With the run's own version (``original``, the default) every stored output is reused as it
is. With the workflow's current version (``latest``) a stored step carries over only where
the new plan still has it:

- a step is *the same* when its step path (without foreach or repeat indexes), its kind and,
  for an action, its ``uses`` are the same in both versions; its ``with`` may differ (the
  stored output is reused as it is, as a resume promises);
- a block (parallel, foreach, group, switch) is reused whole only when every step inside it is
  the same too; else it runs again, and the steps inside it that are the same are reused one
  by one;
- a step that is gone, or not the same, is *dropped*: it runs again if the new version
  reaches it. What was reused and what was dropped is said in the answer (step paths, foreach
  items as ``per_file[*].download``).

Refused: a run that is queued, running or waiting (409); a succeeded run with its own version
(nothing to resume, 409) — with ``latest`` a succeeded run may go on into a version that
changed, reusing what it did; a current version that is not valid (422, with its problems);
``latest`` when none of the steps the run completed is in the current version (409: nothing
to resume, rerun it instead).
"""

from __future__ import annotations

import re

from .models import Run, StepRun, WorkflowVersion

ORIGINAL, LATEST = "original", "latest"
RESUMABLE = (Run.Status.FAILED, Run.Status.CANCELLED, Run.Status.INTERRUPTED)
_INDEX = re.compile(r"\[\d+\]")
_BLOCKS = ("parallel", "foreach", "group", "switch")


class NotResumable(Exception):
    """Why a run cannot be resumed so: an HTTP ``status`` (409, 422), words and problems."""

    def __init__(self, status: int, detail: str, errors: list | None = None):
        super().__init__(status, detail, errors)
        self.status, self.detail, self.errors = status, detail, errors or []


def steps_of(tree: list[dict]) -> dict[str, tuple]:
    """Every step of a ``Plan.describe()`` tree by its step path without indexes: its kind and
    ``uses`` (None for a block)."""
    found: dict[str, tuple] = {}

    def walk(entries, prefix: str) -> None:
        for entry in entries:
            path = prefix + entry["id"]
            found[path] = (entry["kind"], entry.get("uses"))
            for key in ("children", "default", "on_failure", "finally"):
                walk(entry.get(key) or (), path + ".")
            for case in (entry.get("cases") or {}).values():
                walk(case, path + ".")
            walk(entry.get("compensate") or (), path + ".compensate.")

    walk(tree, "")
    return found


def carry_over(stored: dict, old: dict | None, new: dict) -> tuple[dict, list[str], list[str]]:
    """Which stored outputs (``{run-time path: output}``) a run of the ``new`` step tree
    (``steps_of``) reuses, from a run of ``old`` (None: unknown, its version no longer loads:
    no block is reused whole). Returns ``(completed, reused, dropped)``, the last two as step
    paths with ``[*]`` for indexes, in the order stored. Steps inside an action (a
    sub-workflow's) are neither: they go with their step."""
    same = _unchanged_blocks(old, new) if old is not None else set()
    completed, reused, dropped = {}, {}, {}
    for path, output in stored.items():
        template = _INDEX.sub("", path)
        shown = _INDEX.sub("[*]", path)
        now, before = new.get(template), (old or new).get(template)
        if before is None or (old is None and now is None):
            if not _inside_action(template, old or new):
                dropped.setdefault(shown, None)
            continue
        if now is None or now != before or (now[0] in _BLOCKS and template not in same):
            dropped.setdefault(shown, None)
            continue
        completed[path] = output
        reused.setdefault(shown, None)
    return completed, list(reused), list(dropped)


def _unchanged_blocks(old: dict, new: dict) -> set[str]:
    """The blocks whose every step inside is the same in both trees."""
    def inside(tree: dict, block: str) -> set:
        head = block + "."
        return {(path, what) for path, what in tree.items() if path.startswith(head)}

    return {path for path, what in new.items()
            if what[0] in _BLOCKS and old.get(path) == what and inside(old, path) == inside(new, path)}


def _inside_action(template: str, tree: dict) -> bool:
    parts = template.split(".")
    return any(tree.get(".".join(parts[:n]), ("",))[0] == "action" for n in range(1, len(parts)))


def stored_outputs(run: Run) -> dict:
    """Outputs of a run's succeeded steps, by path, in the order stored (cut outputs are re-run)."""
    rows = StepRun.objects.filter(run=run, status="succeeded", output_note="").order_by("id")
    return dict(rows.values_list("path", "output"))


def tree_of(version: WorkflowVersion, owner) -> dict:
    """``steps_of`` a version's plan; raise ``services.Invalid`` when it does not load now."""
    from engine import plan

    from .runtime import registry
    from .services import check_yaml

    return steps_of(plan(check_yaml(version.yaml, owner=owner), registry()).describe())


def completed_for(old: Run, version: WorkflowVersion | None) -> dict:
    """What a run resumed from ``old`` with ``version`` reuses (all of it with old's own)."""
    stored = stored_outputs(old)
    if version is None or version.pk == old.version_id:
        return stored
    from .services import Invalid

    owner = old.workflow.owner
    try:
        before = tree_of(old.version, owner)
    except Invalid:
        before = None
    return carry_over(stored, before, tree_of(version, owner))[0]


def resume_run(old: Run, user, which: str = ORIGINAL) -> tuple[Run, dict]:
    """A queued run that resumes ``old`` with its own version or the workflow's latest, and what
    it reuses: ``{"version", "from_version", "to_version", "reused", "dropped"}``. Raise
    NotResumable (or InputsInvalid, when the run's inputs do not fit the latest version)."""
    from .services import Invalid, create_run

    if which not in (ORIGINAL, LATEST):
        raise NotResumable(422, f"version: say 'original' or 'latest', not {which!r}")
    workflow = old.workflow
    if old.status not in RESUMABLE and not (old.status == Run.Status.SUCCEEDED and which == LATEST):
        if old.status == Run.Status.SUCCEEDED:
            raise NotResumable(409, "nothing to resume: the run succeeded (resume it with the latest version "
                                    "to go on into a changed workflow, or rerun it)")
        raise NotResumable(409, "only a failed, cancelled or interrupted run can be resumed "
                                f"(this one is {old.status})")
    version = old.version if which == ORIGINAL else workflow.current_version()
    # paths only: the outputs are read when the new run starts (``completed_for``)
    stored = dict.fromkeys(StepRun.objects.filter(run=old, status="succeeded", output_note="")
                           .order_by("id").values_list("path", flat=True))
    if version.pk == old.version_id:
        if old.status == Run.Status.SUCCEEDED:
            raise NotResumable(409, f"nothing to resume: the run succeeded with version {version.number}, "
                                    "the latest (rerun it to run it again)")
        reused, dropped = list(dict.fromkeys(_INDEX.sub("[*]", p) for p in stored)), []
    else:
        owner = workflow.owner
        try:
            after = tree_of(version, owner)
        except Invalid as exc:
            raise NotResumable(422, f"version {version.number}, the latest, is not valid: fix it, or resume with "
                                    "the original version", [i.as_dict() for i in exc.issues]) from None
        try:
            before = tree_of(old.version, owner)
        except Invalid:
            before = None
        _, reused, dropped = carry_over(stored, before, after)
        if dropped and not reused:
            raise NotResumable(409, f"nothing to resume: none of the steps run #{old.pk} completed is in version "
                                    f"{version.number} (dropped: {', '.join(dropped[:10])}); rerun it instead")
    new = create_run(workflow, user, old.inputs, version=version, resumed_from=old)
    return new, {"version": which, "from_version": old.version.number, "to_version": version.number,
                 "reused": reused, "dropped": dropped}
