"""The workflow engine: load → plan → Runner.run(plan, inputs, sink). Never imports Django."""

from .actions import Action, ActionContext, ActionRegistry, Params, SkillAction, SkillSpec, default_registry
from .actions.skill import config_problems, schema_problems
from .budgets import Budgets
from .errors import (
    ActionError,
    BudgetExceeded,
    EngineError,
    ExpressionError,
    InputsInvalid,
    Issue,
    RunCancelled,
    StepFailed,
    StepTimeout,
    UnstorableValue,
    WorkflowInvalid,
)
from .events import Event, FanoutSink, ListSink, NullSink, Sink, StepTable
from .inputs import coerce_inputs, parse_cli_value
from .loader import load, validate
from .planner import Node, Plan, plan
from .runner import RunResult, Runner
from .settings import EngineSettings
from .spec import Workflow
from .values import normalize

__all__ = sorted([
    "Action", "ActionContext", "ActionError", "ActionRegistry", "BudgetExceeded", "Budgets", "EngineError",
    "EngineSettings", "UnstorableValue",
    "Event", "ExpressionError", "FanoutSink", "InputsInvalid", "Issue", "ListSink", "Node", "NullSink",
    "Params", "Plan", "RunCancelled", "RunResult", "Runner", "Sink", "SkillAction", "SkillSpec", "StepFailed",
    "StepTable", "config_problems", "schema_problems",
    "StepTimeout", "Workflow", "WorkflowInvalid", "coerce_inputs", "default_registry", "load", "normalize",
    "parse_cli_value", "plan", "validate",
])
