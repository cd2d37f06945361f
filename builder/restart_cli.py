"""``runworkflow --restart RUN --from-step PATH``: the API's restart from a step, run here with
live progress (builder/restart.py decides what is reused; the run is recorded as the user's)."""

from __future__ import annotations

import asyncio

from engine import InputsInvalid


def restart_command(command, options) -> int:
    """Restart recorded run ``options["restart"]`` of ``--user`` from ``--from-step``; the exit
    code (2 when refused, with the reason on stderr)."""
    from django.contrib.auth import get_user_model

    from .execution import saved_workflows, worker_name
    from .models import Run
    from .restart import narrowed, restart_run
    from .resume import NotResumable
    from .runtime import load_workflow, registry, secrets_for
    from .services import completed_outputs, visible_to

    def refuse(*lines) -> int:
        for line in lines:
            command.stderr.write(line)
        return 2

    if not options.get("from_step") or options.get("path") or options.get("latest"):
        return refuse("runworkflow: --restart RUN goes with --from-step STEP (a step path, such as "
                      "per_file[3].download), without PATH or --latest")
    user = get_user_model().objects.filter(username=options["user"]).first()
    if user is None:
        return refuse(f"runworkflow: no user '{options['user']}' (use --user)")
    runs = visible_to(user, Run.objects.select_related("workflow__owner", "version"), "workflow__owner")
    old = runs.filter(pk=options["restart"]).first()
    if old is None:
        return refuse(f"runworkflow: no run #{options['restart']} of user '{user.username}'")
    try:
        new, report = restart_run(old, user, options["from_step"])
    except NotResumable as exc:
        return refuse(f"run #{old.pk}: {exc.detail}", *(f"  {e['path']}: {e['message']}" for e in exc.errors))
    except InputsInvalid as exc:
        return refuse(*(f"run #{old.pk}: inputs: {p}" for p in exc.problems))
    if new.status != Run.Status.QUEUED:  # the workflow's concurrency limit skipped it
        return refuse(f"run #{new.pk}: {new.status}: {new.error}")
    Run.objects.filter(pk=new.pk).update(mode="cli", worker=worker_name())
    owner = old.workflow.owner
    actions, secret_values = registry(), secrets_for(owner)
    workflow = load_workflow(new.version.yaml, f"{old.workflow.name}.yaml", actions, secret_values.keys())
    if not options["json"]:
        command.stdout.write(f"restarting run #{old.pk} from {report['from_step']} as run #{new.pk}; reused: "
                             f"{', '.join(report['reused']) or 'nothing'}")
    completed = narrowed(new, completed_outputs(old, new.version))
    return asyncio.run(command.run_async(actions, secret_values, workflow, new.inputs, options["json"], new,
                                         completed, saved_workflows(owner.pk), report))
