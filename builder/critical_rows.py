"""The critical path of a run taken over by another process, from every process's stored steps.

The live figures (engine/critical.py, fed by the runner's events) see only the part the last
process ran. A taken-over run's summary is made again from its rows (``recorder._whole_run``):
the same folding, fed the rows as events in time order, with the plan of the run's version
(its needs, its blocks' slot limits) when that version still loads, else by time alone. The
rows do not say what an action queued for (a slot or a rate), so those waits are not told;
a retried step's backoff is the time between its attempts' rows.
"""

from __future__ import annotations

from engine import plan
from engine.critical import shape_of
from engine.critical_rows import from_rows

from .models import Run, StepRun


def whole_run_path(run_id: int, started, end: float) -> dict:
    """``critical_path`` and ``held_back`` of the whole run (``started``: its first start, a datetime)."""
    rows = StepRun.objects.filter(run_id=run_id, started_at__isnull=False).values_list(
        "path", "kind", "attempt", "started_at", "finished_at", "status", "error")
    timed = [(path, kind, attempt, begun.timestamp(), ended.timestamp() if ended else None,
              "interrupted" if status == "failed" and error.startswith("interrupted:") else status)
             for path, kind, attempt, begun, ended, status, error in rows.iterator()]
    return from_rows(timed, _shape(run_id), begin=started.timestamp() if started else None, end=end)


def _shape(run_id: int) -> dict | None:
    """The plan's shape of the run's version, or None when it does not load now (a skill changed)."""
    from .runtime import registry
    from .services import check_yaml

    run = Run.objects.select_related("version", "workflow__owner").filter(pk=run_id).first()
    if run is None:
        return None
    try:
        actions = registry()
        return shape_of(plan(check_yaml(run.version.yaml, owner=run.workflow.owner), actions))
    except Exception:  # noqa: BLE001 - the figures go on by time alone
        return None
