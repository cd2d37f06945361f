"""Names an expression can see at run time."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ExpressionError

_MISSING = object()


class Scope:
    """Step outputs and names, chained: a foreach item's scope sits on its parent's.

    A step id the plan knows but that has no output (its block was skipped) reads as null.
    """

    __slots__ = ("values", "parent", "known")

    def __init__(self, values: dict, parent: Scope | None = None, known: frozenset = frozenset()):
        self.values = values
        self.parent = parent
        self.known = parent.known if parent is not None else known

    def __getitem__(self, name: str):
        scope = self
        while scope is not None:
            value = scope.values.get(name, _MISSING)
            if value is not _MISSING:
                return value
            scope = scope.parent
        if name in self.known:
            return None
        raise KeyError(name)

    def child(self, values: dict) -> Scope:
        return Scope(values, self)


class Secrets(Mapping):
    """``${secrets.NAME}``: values looked up lazily; an unknown name is an error."""

    def __init__(self, values: Mapping[str, str]):
        self._values = dict(values)

    def __getitem__(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise ExpressionError(f"unknown secret '{name}'") from None

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
