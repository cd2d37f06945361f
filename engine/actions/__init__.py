"""Built-in actions and the registry that finds them."""

from .approval import Approval
from .base import Action, ActionContext, Params
from .fail import Fail
from .http import Http
from .llm import Llm
from .merge import Merge
from .python import Python
from .registry import ActionRegistry
from .skill import SkillAction, SkillSpec
from .sql import Sql
from .transform import Transform
from .wait import Wait
from .workflow import SubWorkflow

BUILTINS = [Approval, Fail, Http, Llm, Merge, Python, Sql, SubWorkflow, Transform, Wait]


def default_registry() -> ActionRegistry:
    """A registry holding every built-in action."""
    return ActionRegistry([cls() for cls in BUILTINS])


__all__ = ["Action", "ActionContext", "ActionRegistry", "BUILTINS", "Params", "SkillAction", "SkillSpec",
           "default_registry"]
