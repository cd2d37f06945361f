"""``workflow``: run another saved workflow with inputs, as a step.

The host provides ``services["workflows"]``: ``async (name, version) -> YAML text`` (the
builder looks in the run owner's workflows); the runner provides ``services["subworkflow"]``,
which runs it (``engine/subruns.py``). The sub-run's events are forwarded into this run with
the step's path in front (``report.fetch``), so they appear nested under the step. Depth is
limited (``EngineSettings.workflow_depth``) and a name already on the call chain is refused: a
cycle.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..errors import ActionError
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
        start = ctx.services.get("subworkflow")  # the runner's (engine/subruns.py): no import circle
        if start is None:
            raise ActionError("sub-workflows cannot run here", retryable=False)
        return await start(params.name, params.version, params.inputs, ctx)
