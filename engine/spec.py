"""The workflow format as pydantic models (FORMAT.md, version 1)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator

ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"  # at most 100 characters: a step path is stored
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
#: the longest duration: a year (longer ones overflow thread and timer waits, or are typos)
MAX_DURATION = 365 * 24 * 3600.0


def parse_duration(value: Any) -> float:
    """A number of seconds, or ``250ms``/``10s``/``2m``/``1h``/``2d``, as float seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 10s, 250ms, 2m, 1h, 2d")
    seconds = None
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        seconds = float(value)
    elif isinstance(value, str) and len(value) < 100:
        match = _DURATION.match(value)
        if match:
            seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds is None:
        shown = repr(value) if len(repr(value)) < 60 else repr(value)[:50] + "…"
        raise ValueError(f"invalid duration {shown}: use seconds or a string like 10s, 250ms, 2m, 1h, 2d")
    if not seconds <= MAX_DURATION:  # also NaN
        raise ValueError(f"a duration is at most a year ({MAX_DURATION:g} s)")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
InputType = Literal["string", "number", "integer", "boolean", "object", "array"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=False)


class InputSpec(_Model):
    """One declared run input."""

    type: InputType = "string"
    default: Any = None
    description: str | None = None
    required: bool | None = None
    enum: list[Any] | None = None

    @property
    def is_required(self) -> bool:
        if self.required is not None:
            return self.required
        return "default" not in self.model_fields_set


def _input_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


class Limits(_Model):
    """Run-wide limits."""

    concurrency: int | None = Field(default=None, ge=1)
    timeout: Duration | None = None
    actions: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)


class Retry(_Model):
    """How often and how patiently a failed action step is tried again."""

    attempts: int = Field(default=3, ge=1, le=100)
    delay: Duration = 1.0
    backoff: float = Field(default=2.0, ge=1.0, le=100.0)
    max_delay: Duration = 60.0

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 = the first retry)."""
        try:
            return min(self.delay * self.backoff ** max(attempt - 2, 0), self.max_delay)
        except OverflowError:  # 100 ** 98 is beyond a float
            return self.max_delay


class Repeat(_Model):
    """A group run again until a condition holds (FORMAT.md, "Repeat")."""

    until: str
    max: int = Field(ge=1, le=10_000)
    delay: Duration | None = None


class Concurrency(_Model):
    """How many runs of one workflow may be active at once, across every process."""

    limit: int = Field(default=1, ge=1, le=1000)
    when_busy: Literal["queue", "skip", "cancel_running"] = "queue"


class ScheduleTrigger(_Model):
    """Runs started on a cron schedule (FORMAT.md, "Triggers")."""

    id: str = Field(pattern=ID_PATTERN)
    schedule: str = Field(max_length=200)  # cron, 5 fields
    timezone: str = Field(default="UTC", max_length=64)
    catch_up: bool = False  # slots missed while nothing ran: each run once (true) or skipped, noted
    inputs: dict[str, Any] = Field(default_factory=dict)  # ``${trigger.date}`` and the like
    kind: Literal["schedule"] = Field(default="schedule", exclude=True)


class WebhookTrigger(_Model):
    """Runs started by ``POST /hooks/<token>/`` (FORMAT.md, "Triggers")."""

    id: str = Field(pattern=ID_PATTERN)
    webhook: Literal[True]
    secret: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")  # HMAC key: a secret's name
    inputs: dict[str, Any] = Field(default_factory=dict)  # ``${trigger.body}``, ``${trigger.headers}``
    kind: Literal["webhook"] = Field(default="webhook", exclude=True)


Trigger = Union[ScheduleTrigger, WebhookTrigger]


class StepBase(_Model):
    """Keys every step has."""

    id: str = Field(pattern=ID_PATTERN)
    name: str | None = None
    if_: bool | str | None = Field(default=None, alias="if")
    timeout: Duration | None = None
    needs: list[str] | None = None
    #: how to undo this step once it has succeeded: run only on an enclosing rollback
    compensate: list[Step] | None = None
    # factories, not defaults: pydantic deep-copies a default for every step built
    _path: tuple = PrivateAttr(default_factory=tuple)
    _pos: tuple = PrivateAttr(default_factory=lambda: (1, 1))

    # private attributes read straight from pydantic's slot: ``self._path`` goes through
    # BaseModel.__getattr__ (Python), and validation reads them for every step, several times
    @property
    def yaml_path(self) -> tuple:
        """Where the step is in the document: ``('steps', 1, 'parallel', 0)``."""
        return self.__pydantic_private__["_path"]

    @property
    def position(self) -> tuple[int, int]:
        """(line, column) of the step in its source, 1-based."""
        return self.__pydantic_private__["_pos"]


class ActionStep(StepBase):
    """Runs one action (or skill) with parameters."""

    kind: Literal["action"] = Field(default="action", exclude=True)
    uses: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    retry: Retry | None = None
    on_error: Literal["fail", "continue"] = "fail"


ListPolicy = Literal["fail_fast", "wait_all", "continue", "rollback"]


class _Hooks(StepBase):
    """Steps run when the block fails (``on_failure``) and whatever happened (``finally``)."""

    on_failure: list[Step] | None = None
    finally_: list[Step] | None = Field(default=None, alias="finally")


class _BlockPolicy(_Hooks):
    on_error: ListPolicy = "fail_fast"
    min_success: int | None = Field(default=None, ge=0)
    concurrency: int | None = Field(default=None, ge=1)


class ParallelStep(_BlockPolicy):
    """Branches that all start together."""

    kind: Literal["parallel"] = Field(default="parallel", exclude=True)
    parallel: list[Step] = Field(min_length=1)


class ForeachStep(_BlockPolicy):
    """Runs its body once per item of a list, items independently."""

    kind: Literal["foreach"] = Field(default="foreach", exclude=True)
    foreach: str | list[Any]
    as_: str = Field(default="item", alias="as", pattern=ID_PATTERN)
    concurrency: int | None = Field(default=8, ge=1)
    #: spread the items over the workers (celery mode; elsewhere they run here): true, false,
    #: or unset for the installation's choice (WORKFLOW_DISTRIBUTE_ITEMS). Never changes results.
    distribute: bool | None = None
    steps: list[Step] = Field(min_length=1)


class GroupStep(_Hooks):
    """A sequence of steps (a DAG with ``needs``); its output is its last step's. With
    ``repeat``, the steps run again until ``repeat.until`` holds."""

    kind: Literal["group"] = Field(default="group", exclude=True)
    steps: list[Step] = Field(min_length=1)
    on_error: ListPolicy = "fail_fast"
    repeat: Repeat | None = None


class SwitchStep(StepBase):
    """One of several cases runs, chosen by the value of ``switch`` as text."""

    kind: Literal["switch"] = Field(default="switch", exclude=True)
    switch: str | int | float | bool | None
    cases: dict[str, list[Step]] = Field(min_length=1)
    default: list[Step] | None = None


Step = Union[ActionStep, ParallelStep, ForeachStep, GroupStep, SwitchStep]
STEP_CLASSES = {"action": ActionStep, "parallel": ParallelStep, "foreach": ForeachStep, "group": GroupStep,
                "switch": SwitchStep}


class Workflow(_Model):
    """A whole workflow document."""

    version: Literal[1] = 1
    name: str = Field(pattern=NAME_PATTERN, max_length=100)
    title: str | None = None
    description: str | None = None
    inputs: dict[str, Annotated[InputSpec, BeforeValidator(_input_shorthand)]] = Field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    limits: Limits = Field(default_factory=Limits)
    concurrency: Concurrency | None = None
    steps: list[Step] = Field(default_factory=list)
    on_error: ListPolicy = "fail_fast"
    on_failure: list[Step] | None = None
    finally_: list[Step] | None = Field(default=None, alias="finally")
    triggers: list[Trigger] = Field(default_factory=list, max_length=50)

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, value: dict) -> dict:
        for key in value:
            if not re.match(ID_PATTERN, key):
                raise ValueError(f"input name '{key}' must match {ID_PATTERN}")
        return value


for _cls in (StepBase, ActionStep, ParallelStep, ForeachStep, GroupStep, SwitchStep, Workflow):
    _cls.model_rebuild()

#: the keys of a step or workflow that hold a list of steps, in document order
STEP_LIST_KEYS = ("parallel", "steps", "default", "compensate", "on_failure", "finally")


def step_kind(raw: dict) -> str | None:
    """Which kind of step a raw mapping is, or None when its keys don't say."""
    if "switch" in raw:
        return "switch"
    if "foreach" in raw:
        return "foreach"
    if "parallel" in raw:
        return "parallel"
    if "uses" in raw:
        return "action"
    if "steps" in raw:
        return "group"
    return None


def walk_steps(steps, parent=None):
    """Yield ``(step, parent or None)`` depth-first over a step list and every list nested in
    its steps (branches, bodies, cases, hooks, compensations). No recursion: nested generators
    would cost the depth on every step."""
    todo = [(step, parent) for step in reversed(steps)]
    while todo:
        step, parent = todo.pop()
        yield step, parent
        todo.extend((child, step) for child in reversed(nested(step)))


def children(step) -> list:
    """The steps a block runs as its own work (branches, body or group); [] for an action or
    a switch (whose cases are separate lists: ``step_lists``)."""
    if isinstance(step, ParallelStep):
        return step.parallel
    if isinstance(step, (ForeachStep, GroupStep)):
        return step.steps
    return []


def step_lists(step) -> list[tuple[tuple, list]]:
    """Every list of steps held by ``step`` (or a Workflow) as ``(key path, steps)``:
    ``(("steps",), [...])``, ``(("cases", "invoice"), [...])``, ``(("finally",), [...])``."""
    if type(step) is ActionStep and not step.compensate:  # most steps: nothing to build
        return []
    out = []
    if isinstance(step, ParallelStep):
        out.append((("parallel",), step.parallel))
    elif isinstance(step, (ForeachStep, GroupStep, Workflow)):
        out.append((("steps",), step.steps))
    elif isinstance(step, SwitchStep):
        out.extend((("cases", name), case) for name, case in step.cases.items())
        if step.default is not None:
            out.append((("default",), step.default))
    for key, attr in extra_lists(type(step)):
        value = getattr(step, attr)
        if value:
            out.append((key, value))
    return out


#: class -> its compensation and hooks as ``((key,), attribute)``, in document order
_EXTRA_LISTS: dict[type, tuple] = {}


def extra_lists(cls: type) -> tuple:
    """The lists besides its work a model class has (compensate, on_failure, finally), read by
    field name: ``getattr(step, name, None)`` on a model without the field goes through
    pydantic's ``__getattr__`` and an AttributeError, slow on every step of a large workflow."""
    found = _EXTRA_LISTS.get(cls)
    if found is None:
        fields = getattr(cls, "model_fields", None) or {}
        found = _EXTRA_LISTS[cls] = tuple(((key,), attr) for key, attr in (
            ("compensate", "compensate"), ("on_failure", "on_failure"), ("finally", "finally_")) if attr in fields)
    return found


def nested(step) -> list:
    """Every step held directly by ``step``, in any of its lists."""
    return [child for _, steps in step_lists(step) for child in steps]
