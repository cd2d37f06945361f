"""Page views: the workflow list (new, import), the editor, the run monitor and the Tokens page."""

import re
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from engine.spec import NAME_PATTERN

from .approvals import visible_runs
from .models import Run, Workflow
from .services import MAX_YAML_BYTES, Invalid, delete_workflow_and_runs, save_workflow, visible_to

RECENT = 20  # runs per workflow on the list (its sparkline)
REFUSED = "list-refused"  # the session key of a refused "new" or import, shown once by the list
NAME_RULE = ("A name is lower-case letters, digits, '-' and '_', starting with a letter or digit "
             "(like sales-report), up to 100 characters.")
NEW_TEMPLATE = "version: 1\nname: {name}\ntitle: \"\"\nsteps: []\n"


def _list(request, **extra):
    workflows = list(visible_to(request.user, Workflow.objects.select_related("owner")).prefetch_related(
        Prefetch("runs", queryset=Run.objects.exclude(mode="try").order_by("-created_at")[:RECENT],
                 to_attr="recent")))  # a trial of one step (builder/step_try.py) is no run of the workflow
    week_ago = timezone.now() - timedelta(days=7)
    for workflow in workflows:  # the sparkline: this week's runs, oldest first
        workflow.week = [run for run in reversed(workflow.recent) if run.created_at >= week_ago]
    return render(request, "workflow_list.html", {"workflows": workflows, "name_rule": NAME_RULE, **extra})


def _workflow(request, workflow_id: int) -> Workflow:
    """The user's workflow (staff: anyone's); another user's is a 404."""
    return get_object_or_404(visible_to(request.user, Workflow.objects.all()), pk=workflow_id)


@login_required
def workflow_list(request):
    """The user's workflows with their last run, and what a refused "new" or import said."""
    refused = request.session.pop(REFUSED, None) or {}
    return _list(request, problems=refused.get("problems"), new_name=refused.get("name", ""))


def _refused(request, problems: list[str], name: str = ""):
    """Back to the list (a GET: reloading it posts nothing again), which shows the problems and
    keeps the name typed."""
    request.session[REFUSED] = {"problems": [str(p)[:500] for p in problems[:20]], "name": name[:100]}
    return redirect("home")


@login_required
@require_POST
def new_workflow(request):
    """Create an empty workflow named by the form and open it in the editor."""
    name = request.POST.get("name", "").strip()
    if len(name) > 100 or not re.fullmatch(NAME_PATTERN, name):
        return _refused(request, [f"'{name[:100]}' is not a name. {NAME_RULE}"], name)
    try:
        workflow = save_workflow(request.user, NEW_TEMPLATE.format(name=name), "created")
    except Invalid as exc:
        return _refused(request, [i.message for i in exc.issues], name)
    return redirect("editor", workflow.pk)


@login_required
@require_POST
def import_workflow(request):
    """Create a workflow from an uploaded YAML file; problems are listed with their places."""
    upload = request.FILES.get("file")
    if upload is None or upload.size > MAX_YAML_BYTES:
        return _refused(request, ["Choose a YAML file of at most 1 MiB."])
    try:
        text = upload.read().decode("utf-8")
        workflow = save_workflow(request.user, text, f"imported from {upload.name}")
    except UnicodeDecodeError:
        return _refused(request, [f"{upload.name} is not UTF-8 text."])
    except Invalid as exc:
        return _refused(request, [f"{upload.name}:{i.line}:{i.column}: {i.path + ': ' if i.path else ''}"
                                  f"{i.message}" for i in exc.issues])
    messages.success(request, f"Imported {workflow.name}.")
    return redirect("editor", workflow.pk)


@login_required
@require_POST
def duplicate_workflow(request, workflow_id: int):
    """A copy named ``<name>-copy`` (``-copy-2``...), with the same YAML, as a new workflow."""
    original = _workflow(request, workflow_id)
    taken = set(Workflow.objects.filter(owner=request.user).values_list("name", flat=True))
    name = next(n for n in (f"{original.name}-copy", *(f"{original.name}-copy-{i}" for i in range(2, 1000)))
                if n not in taken)
    text = re.sub(r"(?m)^name:.*$", f"name: {name}", original.yaml, count=1)
    try:
        workflow = save_workflow(request.user, text, f"copied from {original.name} v{original.version}")
    except Invalid as exc:
        return _refused(request, [i.message for i in exc.issues])
    messages.success(request, f"Copied {original.name} to {name}.")
    return redirect("editor", workflow.pk)


@login_required
@require_POST
async def delete_workflow(request, workflow_id: int):
    """Delete a workflow with its versions and runs (its running runs are cancelled first)."""
    workflow = await sync_to_async(_workflow)(request, workflow_id)
    await delete_workflow_and_runs(workflow)
    await sync_to_async(messages.success)(request, f"Deleted {workflow.name}.")
    return redirect("home")


@login_required
def editor(request, workflow_id: int):
    """The editor page (another user's workflow is a 404)."""
    workflow = _workflow(request, workflow_id)
    data = {"id": workflow.pk, "name": workflow.name, "version": workflow.version, "yaml": workflow.yaml}
    return render(request, "editor.html", {"workflow": workflow, "editor_data": data})


@login_required
def monitor(request, run_id: int):
    """The run monitor page (another user's run is a 404, unless one of its pending approvals
    asks this user to decide)."""
    run = get_object_or_404(visible_runs(request.user, Run.objects.select_related("workflow", "version")),
                            pk=run_id)
    data = {"id": run.pk, "workflow_id": run.workflow_id, "workflow": run.workflow.name,
            "version": run.version.number, "yaml": run.version.yaml, "resumed_from": run.resumed_from_id}
    return render(request, "monitor.html", {"run": run, "monitor_data": data})


@login_required
def run_list(request):
    """Every run of the user across workflows (staff: everyone's): the filters are a GET form
    and the rows come from ``GET /api/runs/`` (static/runs/main.js)."""
    from .models import Origin
    from .origins import LABELS

    workflows = visible_to(request.user, Workflow.objects.order_by("name")).values("pk", "name")
    return render(request, "runs.html", {"workflows": list(workflows), "statuses": Run.Status.values,
                                         "origins": [(o, LABELS[o]) for o in Origin.values],
                                         "query": request.GET})


#: the Tokens page's expiry choices, in days ("" : never)
TOKEN_EXPIRIES = [("30", "30 days"), ("7", "7 days"), ("90", "90 days"), ("365", "1 year"), ("", "No expiry")]


def _tokens(request, status=200, **extra):
    from .models import ApiToken

    rows = list(ApiToken.objects.filter(owner=request.user)[:500])
    now = timezone.now()
    for row in rows:
        row.state = "revoked" if row.revoked_at else "expired" if row.expires_at and row.expires_at <= now else "active"
    response = render(request, "tokens.html", {"tokens": rows, "expiries": TOKEN_EXPIRIES, **extra}, status=status)
    response["Cache-Control"] = "no-store"  # the answer that shows a new token is kept nowhere
    return response


@login_required
def tokens_page(request):
    """My personal API tokens (builder/tokens.py); a POST makes one, shown in this answer only."""
    from . import tokens

    if request.method != "POST":
        return _tokens(request)
    name, days = request.POST.get("name", ""), request.POST.get("expires_in_days", "")
    try:
        if days and not re.fullmatch(r"[0-9]{1,5}", days):
            raise tokens.TokenError(f"a token lasts 1 to {tokens.MAX_DAYS} days")
        row, plain = tokens.make(request.user, name, tokens.expiry(int(days) if days else None))
    except tokens.TokenError as exc:
        return _tokens(request, 400, problems=[str(exc)], new_name=name.strip(), days=days)
    return _tokens(request, new_token=plain, new_row=row)


@login_required
@require_POST
def revoke_token(request, token_id: int):
    """Revoke one of my tokens (another user's is a 404)."""
    from . import tokens
    from .models import ApiToken

    token = tokens.revoke(get_object_or_404(ApiToken, owner=request.user, pk=token_id))
    messages.success(request, f"Revoked {token.name}: it no longer works.")
    return redirect("tokens")
