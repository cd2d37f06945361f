"""Page views: the workflow list, the editor and the run monitor."""

from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, render

from .models import Run, Workflow
from .services import visible_to


@login_required
def workflow_list(request):
    """The user's workflows with their last run."""
    workflows = visible_to(request.user, Workflow.objects.select_related("owner")).prefetch_related(
        Prefetch("runs", queryset=Run.objects.order_by("-created_at"), to_attr="recent"))
    return render(request, "workflow_list.html", {"workflows": workflows})


@login_required
def editor(request, workflow_id: int):
    """The editor page (another user's workflow is a 404)."""
    workflow = get_object_or_404(visible_to(request.user, Workflow.objects.all()), pk=workflow_id)
    runs = workflow.runs.order_by("-created_at")[:20]
    return render(request, "editor.html", {"workflow": workflow, "runs": runs})


@login_required
def monitor(request, run_id: int):
    """The run monitor page (another user's run is a 404)."""
    run = get_object_or_404(visible_to(request.user, Run.objects.select_related("workflow", "version"),
                                       "workflow__owner"), pk=run_id)
    return render(request, "monitor.html", {"run": run})
