"""Find actions (and skills) by name."""

from __future__ import annotations

import difflib
from typing import Callable

from .base import Action

SkillResolver = Callable[[str], "Action | None"]


class ActionRegistry:
    """Built-in actions by name, plus an optional resolver for skills (admin-managed presets)."""

    def __init__(self, actions: list[Action] | None = None, skills: SkillResolver | None = None,
                 skill_names: Callable[[], list[str]] | None = None):
        self._actions: dict[str, Action] = {}
        self._skills = skills
        self._skill_names = skill_names
        for action in actions or ():
            self.register(action)

    def register(self, action: Action | type[Action]) -> Action:
        """Add an action (class or instance); its ``name`` must be new."""
        if isinstance(action, type):
            action = action()
        if action.name in self._actions:
            raise ValueError(f"action '{action.name}' is registered already")
        self._actions[action.name] = action
        return action

    def with_skills(self, skills: SkillResolver, skill_names: Callable[[], list[str]] | None = None):
        """A copy of this registry that also resolves skills."""
        other = ActionRegistry(skills=skills, skill_names=skill_names)
        other._actions = dict(self._actions)
        return other

    def get(self, name: str) -> Action | None:
        """The action or skill called ``name``, or None."""
        action = self._actions.get(name)
        if action is None and self._skills is not None:
            action = self._skills(name)
        return action

    def is_builtin(self, name: str) -> bool:
        return name in self._actions

    def names(self) -> list[str]:
        """Every built-in action name, then known skill names."""
        names = sorted(self._actions)
        if self._skill_names is not None:
            names += sorted(self._skill_names())
        return names

    def suggest(self, name: str) -> str | None:
        """The closest known name to a misspelt one."""
        close = difflib.get_close_matches(name, self.names(), n=1, cutoff=0.6)
        return close[0] if close else None

    def describe(self) -> list[dict]:
        """Every built-in action with its JSON Schema, sorted by name."""
        return [self._actions[name].describe() for name in sorted(self._actions)]
