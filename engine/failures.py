"""How a failed attempt of a step is told, and whether it may be tried again."""

from __future__ import annotations

from .errors import EngineError


class PrepareError(EngineError):
    """Parameters could not be resolved or did not validate (never retried)."""


def retryable(exc: BaseException) -> bool:
    """False for errors that would fail the same way again (bad parameters, ``retryable = False``)."""
    if isinstance(exc, PrepareError):
        return False
    return getattr(exc, "retryable", True)


def describe(exc: BaseException, step) -> str:
    """The step's error message: the engine's own text, or the exception's type and text."""
    if isinstance(exc, TimeoutError) and step.timeout is not None:
        return f"timed out after {step.timeout:g} s"
    if isinstance(exc, EngineError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def validation_text(exc: Exception) -> str:
    """A pydantic ValidationError as ``field.path: message; ...``."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"] for e in errors()
        )
    return str(exc)
