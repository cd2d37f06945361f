"""``runworkflow --resume RUN [--latest] [PATH]`` and ``runworkflow --restart RUN --from-step
STEP``: a new run made from one of the user's recorded runs (builder/resume.py,
builder/restart.py decide what it reuses), run here with live progress and recorded as the
user's. Refusals are exit code 2 with the reason on stderr."""

from __future__ import annotations

import asyncio

from engine import InputsInvalid


def resume_command(command, options) -> int:
    """``--resume RUN [--latest]`` (with PATH: saved as the new version, then resumed with it)."""
    from .resume import LATEST, ORIGINAL, resume_run

    which = LATEST if options["latest"] or options["path"] else ORIGINAL

    def words(old, new, report) -> str:
        return (f"resuming run #{old.pk} as run #{new.pk} with version {report['to_version']} ({which}); reused: "
                f"{', '.join(report['reused']) or 'nothing'}"
                + (f"; dropped: {', '.join(report['dropped'])}" if report["dropped"] else ""))

    return run_again(command, options, options["resume"], lambda old, user: resume_run(old, user, which), words,
                     prepare=_save_path if options["path"] else None)


def restart_command(command, options) -> int:
    """Restart recorded run ``options["restart"]`` of ``--user`` from ``--from-step``."""
    from .restart import narrowed, restart_run

    if not options.get("from_step") or options.get("path") or options.get("latest"):
        return refuse(command, "runworkflow: --restart RUN goes with --from-step STEP (a step path, such as "
                               "per_file[3].download), without PATH or --latest")

    def words(old, new, report) -> str:
        return (f"restarting run #{old.pk} from {report['from_step']} as run #{new.pk}; reused: "
                f"{', '.join(report['reused']) or 'nothing'}")

    def make(old, user):
        return restart_run(old, user, options["from_step"])

    return run_again(command, options, options["restart"], make, words, completed=narrowed)


def refuse(command, *lines) -> int:
    for line in lines:
        command.stderr.write(line)
    return 2


def run_again(command, options, run_id: int, make, words, *, prepare=None, completed=None) -> int:
    """Find run ``run_id`` of ``--user``, ``prepare(command, options, old, user)`` it (an exit
    code refuses), make the new run with ``make(old, user)`` and run it here: its mode is cli.
    ``completed(new, outputs)`` narrows the reused outputs (a restart)."""
    from django.contrib.auth import get_user_model

    from .execution import saved_workflows, worker_name
    from .models import Run
    from .resume import NotResumable
    from .runtime import load_workflow, registry, secrets_for
    from .services import completed_outputs, visible_to

    user = get_user_model().objects.filter(username=options["user"]).first()
    if user is None:
        return refuse(command, f"runworkflow: no user '{options['user']}' (use --user)")
    runs = visible_to(user, Run.objects.select_related("workflow__owner", "version"), "workflow__owner")
    old = runs.filter(pk=run_id).first()
    if old is None:
        return refuse(command, f"runworkflow: no run #{run_id} of user '{user.username}'")
    if prepare is not None and (code := prepare(command, options, old, user)) is not None:
        return code
    try:
        new, report = make(old, user)
    except NotResumable as exc:
        return refuse(command, f"run #{old.pk}: {exc.detail}", *(f"  {e['path']}: {e['message']}" for e in exc.errors))
    except InputsInvalid as exc:
        return refuse(command, *(f"run #{old.pk}: inputs: {p}" for p in exc.problems))
    if new.status != Run.Status.QUEUED:  # the workflow's concurrency limit skipped it
        return refuse(command, f"run #{new.pk}: {new.status}: {new.error}")
    Run.objects.filter(pk=new.pk).update(mode="cli", worker=worker_name())
    owner = old.workflow.owner
    actions, secret_values = registry(), secrets_for(owner)
    workflow = load_workflow(new.version.yaml, f"{old.workflow.name}.yaml", actions, secret_values.keys())
    if not options["json"]:
        command.stdout.write(words(old, new, report))
    reused = completed_outputs(old, new.version)
    if completed is not None:
        reused = completed(new, reused)
    return asyncio.run(command.run_async(actions, secret_values, workflow, new.inputs, options["json"], new,
                                         reused, saved_workflows(owner.pk), report))


def _save_path(command, options, old, user) -> int | None:
    """``--resume RUN PATH``: the file, checked, saved as the workflow's new version first."""
    from builder.management.commands.validateworkflow import check_file

    from .runtime import load_workflow, registry, secrets_for
    from .services import Invalid, save_workflow

    path = options["path"]
    actions, secret_values = registry(), secrets_for(old.workflow.owner)
    issues = check_file(path, actions, secret_values.keys())
    if issues:
        return refuse(command, *(issue.format(path) for issue in issues))
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if load_workflow(text, path, actions).name != old.workflow.name:
        return refuse(command, f"{path}:1:1: name: run #{old.pk} is of workflow '{old.workflow.name}'")
    try:
        save_workflow(user, text, f"from runworkflow {path} --resume {old.pk}", old.workflow)
    except Invalid as exc:
        return refuse(command, *(issue.format(path) for issue in exc.issues))
    old.workflow.refresh_from_db()
    return None
