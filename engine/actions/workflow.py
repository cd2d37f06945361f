"""``workflow``: run another saved workflow with inputs, as a step.

The host provides ``services["workflows"]``: ``async (name, version) -> YAML text`` (the
builder looks in the run owner's workflows). The sub-run's events are forwarded into this
run with the step's path in front (``report.fetch``), so they appear nested under the step.
Depth is limited (``EngineSettings.workflow_depth``) and a name already on the call chain is
refused: a cycle.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import Field

from ..errors import ActionError, InputsInvalid, WorkflowInvalid
from .base import Action, Params


class WorkflowParams(Params):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="the saved workflow's name")
    version: int | None = Field(default=None, ge=1, description="a version number; the current one if absent")
    inputs: dict[str, Any] = Field(default_factory=dict, description="the sub-workflow's inputs")


class SubWorkflow(Action):
    name = "workflow"
    title = "Sub-workflow"
    description = "Run another saved workflow with inputs; returns its outputs."
    category = "Flow"
    Params = WorkflowParams

    async def run(self, params: WorkflowParams, ctx) -> Any:
        from .. import loader, planner
        from ..runner import Runner

        services = ctx.services
        chain = list(services.get("chain", ()))
        if params.name in chain:
            raise ActionError("a cycle of sub-workflows: " + " → ".join(chain + [params.name]), retryable=False)
        if len(chain) > ctx.settings.workflow_depth:
            raise ActionError(f"sub-workflows nest deeper than {ctx.settings.workflow_depth} "
                              f"(the workflow_depth setting)", retryable=False)
        resolve = services.get("workflows")
        if resolve is None:
            raise ActionError("no saved workflows are available here", retryable=False)
        text = resolve(params.name, params.version)
        if inspect.isawaitable(text):
            text = await text
        if text is None:
            which = f" version {params.version}" if params.version else ""
            raise ActionError(f"no workflow named '{params.name}'{which}", retryable=False)
        registry = services["registry"]
        try:
            workflow = loader.load(text, f"{params.name}.yaml", registry=registry, settings=ctx.settings)
        except WorkflowInvalid as exc:
            raise ActionError(f"{params.name} is not valid: {exc.issues[0].format(params.name + '.yaml')}",
                              retryable=False) from None
        parent = services["runner"]
        budget = services.get("budget")
        if budget is not None:
            budget.sub_run()
        child = Runner(registry, ctx.settings, parent.secrets,
                       {**parent.services, "chain": chain + [params.name], "budget": budget,
                        "limits": services.get("limits", ())})  # the callers' limits hold inside too
        child._executor = parent.executor
        forward = services["forward"]
        sink = _Forward(forward, ctx.path + ".", services.get("stored"))
        try:
            result = await child.run(planner.plan(workflow, registry), params.inputs, sink)
        except InputsInvalid as exc:
            raise ActionError(f"{params.name}: {exc}", retryable=False) from None
        if budget is not None and budget.exceeded is not None:
            raise budget.exceeded  # the budget is the whole run's: it ends here too
        if result.status != "succeeded":
            raise ActionError(f"{params.name} {result.status}: {result.error}", retryable=False)
        return result.outputs


class _Forward:
    """Re-emits a sub-run's step and log events in the parent run, under the step's path."""

    def __init__(self, forward, prefix: str, stored=None):
        self.forward = forward
        self.prefix = prefix
        self.stored = stored  # the parent run's barrier (engine.events.Sink), or None

    def emit(self, event) -> None:
        if hasattr(event, "path"):
            self.forward(event, self.prefix)
