"""Sub-workflow runs (the ``workflow`` action): load the saved workflow, run it as a child run.

The runner hands this to the action through its context (``services["subworkflow"]``), so
``actions/`` never imports the loader, planner or runner (which import the actions). The
child's events are forwarded into the parent run with the step's path in front
(``report.fetch``); the callers' budget and limits hold inside; a child resumed or continued
reuses its completed steps and sees its approvals, both stored under the parent's paths.
"""

from __future__ import annotations

import inspect

from . import loader, planner
from .errors import ActionError, InputsInvalid, Waiting, WorkflowInvalid


async def run_subworkflow(ex, name: str, version: int | None, inputs: dict, ctx):
    """Run saved workflow ``name`` as a child of the run ``ex``; its outputs."""
    services = ctx.services
    chain = list(services.get("chain", ()))
    if name in chain:
        raise ActionError("a cycle of sub-workflows: " + " → ".join(chain + [name]), retryable=False)
    if len(chain) > ctx.settings.workflow_depth:
        raise ActionError(f"sub-workflows nest deeper than {ctx.settings.workflow_depth} "
                          f"(the workflow_depth setting)", retryable=False)
    resolve = services.get("workflows")
    if resolve is None:
        raise ActionError("no saved workflows are available here", retryable=False)
    text = resolve(name, version)
    if inspect.isawaitable(text):
        text = await text
    if text is None:
        which = f" version {version}" if version else ""
        raise ActionError(f"no workflow named '{name}'{which}", retryable=False)
    registry = services["registry"]
    try:
        workflow = loader.load(text, f"{name}.yaml", registry=registry, settings=ctx.settings)
    except WorkflowInvalid as exc:
        raise ActionError(f"{name} is not valid: {exc.issues[0].format(name + '.yaml')}", retryable=False) from None
    budget = services.get("budget")
    if budget is not None:
        budget.sub_run()
    parent = ex.runner
    child = type(parent)(registry, ctx.settings, parent.secrets,
                         {**parent.services, "chain": chain + [name], "budget": budget,
                          "limits": services.get("limits", ())})  # the callers' limits hold inside too
    child._executor = parent.executor
    prefix = ctx.path + "."
    sink = _Forward(ex.forward, prefix, services.get("stored"))
    approvals = services.get("approvals")
    try:
        result = await child.run(planner.plan(workflow, registry), inputs, sink,
                                 completed=_under(ex.completed, prefix),
                                 approvals=None if approvals is None else _under(approvals, prefix))
    except InputsInvalid as exc:
        raise ActionError(f"{name}: {exc}", retryable=False) from None
    if budget is not None and budget.exceeded is not None:
        raise budget.exceeded  # the budget is the whole run's: it ends here too
    if result.status == "waiting":
        raise Waiting(sink.waiting)
    if result.status != "succeeded":
        raise ActionError(f"{name} {result.status}: {result.error}", retryable=False)
    return result.outputs


def _under(data: dict | None, prefix: str) -> dict:
    """The entries of ``data`` whose path starts with ``prefix``, with the prefix removed."""
    if not data:
        return {}
    size = len(prefix)
    return {path[size:]: value for path, value in data.items() if path.startswith(prefix)}


class _Forward:
    """Re-emits a sub-run's step and log events in the parent run, under the step's path."""

    def __init__(self, forward, prefix: str, stored=None):
        self.forward = forward
        self.prefix = prefix
        self.stored = stored  # the parent run's barrier (engine.events.Sink), or None
        self.waiting: list[str] = []  # parent paths of the child's steps waiting for a person

    def emit(self, event) -> None:
        if hasattr(event, "path"):
            if event.type == "step.waiting":
                self.waiting.append(self.prefix + event.path)
            self.forward(event, self.prefix)
