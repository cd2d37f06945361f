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
    """``${secrets.NAME}``: values looked up lazily by name; an unknown name is an error.

    Only reading one secret by name is possible: the names cannot be listed, counted, searched
    or printed (``sorted(secrets)``, ``len(secrets)``, ``str(secrets)``), so an expression
    learns no more than the names its author already wrote. The evaluator also refuses
    ``secrets`` anywhere but right before ``.NAME`` or ``['NAME']``.
    """

    __slots__ = ("_values",)
    _REFUSED = ("secrets cannot be listed or used as a whole; read one secret by name: "
                "secrets.NAME or secrets['NAME']")

    def __init__(self, values: Mapping[str, str]):
        self._values = dict(values)

    def __getitem__(self, name: str) -> str:
        try:
            return self._values[name]
        except (KeyError, TypeError):
            raise ExpressionError(f"unknown secret '{name[:60]}'" if isinstance(name, str)
                                  else "a secret is read by its name (text)") from None

    def __iter__(self):
        raise ExpressionError(self._REFUSED)

    def __len__(self) -> int:
        raise ExpressionError(self._REFUSED)

    def __contains__(self, name) -> bool:
        raise ExpressionError(self._REFUSED)

    def __eq__(self, other) -> bool:
        return self is other

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "<secrets>"
