"""Names an expression can see at run time, and secret redaction."""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ExpressionError

_MISSING = object()
REDACTED = "***"


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


class Redactor:
    """Replaces every secret value inside data or text with ``***``."""

    MIN_LENGTH = 4  # shorter values would blank out ordinary text

    def __init__(self, secrets: Mapping[str, str]):
        self.values = sorted({str(v) for v in secrets.values() if v and len(str(v)) >= self.MIN_LENGTH},
                             key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def __call__(self, data):
        if not self.values:
            return data
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {self(k) if isinstance(k, str) else k: self(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self(v) for v in data]
        return data
