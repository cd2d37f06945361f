"""Errors raised by the engine.

Hierarchy::

    EngineError
    ├── WorkflowInvalid          the document breaks the format (carries every Issue)
    ├── InputsInvalid            run inputs missing or of the wrong type
    ├── ExpressionError          an expression cannot be parsed or evaluated
    ├── ActionError              an action failed (raised by actions; retryable)
    ├── UnstorableValue          an output holds what JSON or a database cannot (names its place)
    ├── BudgetExceeded           a run went past one of its budgets (steps, items, bytes, depth)
    ├── StepFailed               a step or block failed; carries the step path
    │   └── StepTimeout          ... because it ran past its timeout (also a TimeoutError)
    └── RunCancelled             the whole run was cancelled

Every constructor hands its arguments to ``super().__init__`` so the errors pickle
(Celery ships them between processes).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One validation problem: where it is and what is wrong."""

    line: int
    column: int
    #: where in the document: ``steps[1].parallel[0].with.query`` (YAML keys and indexes)
    path: str
    message: str
    #: the step it is in, as the monitor names it: ``analyses.by_region``, ``each[*].fetch``,
    #: ``flight.compensate.undo`` ("" outside any step)
    step_path: str = ""

    def format(self, filename: str = "<workflow>") -> str:
        """Render as ``FILE:LINE:COL: yaml.path (step step.path): message``."""
        where = self.path
        if self.step_path:
            where = f"{where} (step {self.step_path})" if where else f"step {self.step_path}"
        where = f"{where}: " if where else ""
        return f"{filename}:{self.line}:{self.column}: {where}{self.message}"

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "path": self.path, "step_path": self.step_path,
                "message": self.message}


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


class WorkflowInvalid(EngineError):
    """The workflow text breaks the format; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue], filename: str = "<workflow>"):
        super().__init__(issues, filename)
        self.issues = list(issues)
        self.filename = filename

    def __str__(self) -> str:
        return "\n".join(issue.format(self.filename) for issue in self.issues)


class InputsInvalid(EngineError):
    """Run inputs are missing, unknown or of the wrong type."""

    def __init__(self, problems: list[str]):
        super().__init__(problems)
        self.problems = list(problems)

    def __str__(self) -> str:
        return "; ".join(self.problems)


class ExpressionError(EngineError):
    """An expression could not be parsed or evaluated."""

    def __init__(self, message: str, expression: str = ""):
        super().__init__(message, expression)
        self.message = message
        self.expression = expression

    def __str__(self) -> str:
        if self.expression:
            return f"{self.message} in ${{{self.expression}}}"
        return self.message


class ActionError(EngineError):
    """Raised by an action to fail its step with a plain message."""

    def __init__(self, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.message = message
        self.retryable = retryable

    def __str__(self) -> str:
        return self.message


class StepFailed(EngineError):
    """A step or block failed; ``path`` is its run-time step path."""

    def __init__(self, path: str, message: str):
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class StepTimeout(StepFailed, TimeoutError):
    """A step, block or run ran past its timeout."""


class RunCancelled(EngineError):
    """The run was cancelled before it finished."""

    def __init__(self, reason: str = "cancelled"):
        super().__init__(reason)
        self.reason = reason


class UnstorableValue(EngineError):
    """An output holds a value JSON, the database or a browser cannot hold."""

    def __init__(self, place: str, problem: str):
        super().__init__(place, problem)
        self.place, self.problem = place, problem

    def __str__(self) -> str:
        return f"{self.place} {self.problem}"


class BudgetExceeded(EngineError):
    """A run went past a budget (``what``: steps, items, bytes, fan-out); never retried."""

    retryable = False

    def __init__(self, what: str, limit: int, message: str = ""):
        super().__init__(what, limit, message)
        self.what, self.limit = what, limit
        self.message = message or f"the run's budget of {limit:,} {what} is spent"

    def __str__(self) -> str:
        return self.message


class Suspend(EngineError):
    """Raised by an action that waits for a person (``approval``): the step becomes ``waiting``."""

    retryable = False

    def __init__(self, message: str, approvers: list, deadline: float | None):
        super().__init__(message)
        self.message, self.approvers, self.deadline = message, list(approvers), deadline


class Waiting(EngineError):
    """A step of this block or run waits for a person: it ends ``waiting`` once nothing else can
    go on, and the run is continued from its stored state when someone decides."""

    def __init__(self, paths: list[str]):
        super().__init__(", ".join(paths))
        self.paths = list(paths)
