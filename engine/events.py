"""Run events: frozen dataclasses with a per-run ``seq`` and a timestamp, sent to a sink.

Every event has a dotted ``type`` (``step.started``); a consumer dispatches on it by method
name (``step_started``). A sink is anything with ``emit(event)``; it must not block (buffer
and write elsewhere).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Protocol


_FIELDS: dict[type, tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ts: float
    run_id: str
    type: ClassVar[str] = "event"

    @classmethod
    def fast(cls, *args):
        """``cls(*args)``: what the runner builds events with; this module's types have a
        cheaper one of their own (``_maker``), any other subclass gets this."""
        return cls(*args)

    def as_dict(self) -> dict:
        """Plain data: ``{"type": ..., "seq": ..., ...}``."""
        names = _FIELDS.get(type(self))
        if names is None:
            names = _FIELDS[type(self)] = tuple(f.name for f in fields(self))
        data = {"type": self.type}
        for name in names:
            data[name] = getattr(self, name)
        return data


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    workflow: str
    inputs: dict
    steps: list  # the plan's step tree (Plan.describe())
    type: ClassVar[str] = "run.started"


@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    status: str  # succeeded | failed | cancelled | waiting (an approval is pending: continued later)
    outputs: Any
    error: str | None
    duration_ms: float
    summary: dict  # the performance summary: see Summary.as_dict()
    type: ClassVar[str] = "run.finished"


@dataclass(frozen=True, slots=True)
class StepStarted(Event):
    path: str
    step_id: str
    kind: str  # action | parallel | foreach | group
    uses: str | None
    attempt: int
    inputs: Any = None  # resolved ``with`` of an action step (secrets redacted)
    type: ClassVar[str] = "step.started"


@dataclass(frozen=True, slots=True)
class StepRetrying(Event):
    path: str
    attempt: int  # the attempt that failed
    delay: float  # seconds until the next attempt
    error: str
    type: ClassVar[str] = "step.retrying"


@dataclass(frozen=True, slots=True)
class StepSucceeded(Event):
    path: str
    output: Any
    attempt: int
    duration_ms: float
    reused: bool = False  # output taken from an earlier run (resume)
    type: ClassVar[str] = "step.succeeded"


@dataclass(frozen=True, slots=True)
class StepFailed(Event):
    path: str
    error: str
    attempt: int
    duration_ms: float
    continued: bool = False  # ``on_error: continue``: the failure did not stop the parent
    type: ClassVar[str] = "step.failed"


@dataclass(frozen=True, slots=True)
class StepSkipped(Event):
    path: str
    reason: str
    type: ClassVar[str] = "step.skipped"


@dataclass(frozen=True, slots=True)
class StepCancelled(Event):
    path: str
    duration_ms: float
    type: ClassVar[str] = "step.cancelled"


@dataclass(frozen=True, slots=True)
class ForeachProgress(Event):
    path: str
    done: int
    failed: int
    running: int
    total: int
    type: ClassVar[str] = "foreach.progress"


@dataclass(frozen=True, slots=True)
class LogLine(Event):
    path: str
    level: str
    message: str
    type: ClassVar[str] = "log"


@dataclass(frozen=True, slots=True)
class StepWaiting(Event):
    """An ``approval`` step waits for a person: the run ends ``waiting`` once nothing else can
    go on, and is continued from its stored state when someone decides (or the deadline passes)."""

    path: str
    message: str
    approvers: list  # user names; [] means the run's owner
    deadline: float | None  # epoch seconds after which the step fails; None: no timeout
    type: ClassVar[str] = "step.waiting"


@dataclass(frozen=True, slots=True)
class StepCompensated(Event):
    """A succeeded step was undone by its ``compensate`` steps during a rollback."""

    path: str
    duration_ms: float
    type: ClassVar[str] = "step.compensated"


EVENT_TYPES = {cls.type: cls for cls in (RunStarted, RunFinished, StepStarted, StepRetrying, StepSucceeded,
                                         StepFailed, StepSkipped, StepCancelled, ForeachProgress, LogLine,
                                         StepWaiting, StepCompensated)}


def _maker(cls):
    """``cls.fast(seq, ts, run_id, ...)``: the same frozen event as ``cls(...)``, built about three
    times cheaper (the runner builds two a step). A frozen dataclass sets each field through
    ``object.__setattr__``; here a twin class with the same slots and plain attribute setting
    fills them, then the instance becomes a ``cls`` (same layout: ``__class__`` may change)."""
    names = [f.name for f in fields(cls)]
    twin = type(f"_{cls.__name__}Fill", (cls.__base__,), {
        "__slots__": cls.__slots__, "__setattr__": object.__setattr__, "__delattr__": object.__delattr__})
    params = ", ".join(n if f.default is MISSING else f"{n}=_d_{n}" for n, f in zip(names, fields(cls)))
    body = "".join(f"    e.{n} = {n}\n" for n in names)
    scope = {"_new": object.__new__, "_twin": twin, "_cls": cls,
             **{f"_d_{f.name}": f.default for f in fields(cls) if f.default is not MISSING}}
    exec(f"def fast({params}):\n    e = _new(_twin)\n{body}    e.__class__ = _cls\n    return e\n", scope)
    return staticmethod(scope["fast"])


for _cls in EVENT_TYPES.values():
    _cls.fast = _maker(_cls)

TERMINAL_STEP_TYPES = frozenset({"step.succeeded", "step.failed", "step.skipped", "step.cancelled"})


class Sink(Protocol):
    """Receives every event of a run, in ``seq`` order.

    A sink that stores events may also have ``async def stored()``, returning once every event
    emitted so far is stored: the runner awaits it before each action step's call, so a takeover
    never runs a stored step again and counts an interrupted one as its next attempt. It may
    run before the step has a Task of its own (a parallel branch starts in its block's task:
    blocks/common.py, ``start``), so it must not bind to the current task (``asyncio.timeout``,
    a cancel scope): work it waits for goes in a task of its own (``asyncio.shield``, as the
    recorder does).
    """

    def emit(self, event: Event) -> None: ...


class NullSink:
    """Drops every event."""

    def emit(self, event: Event) -> None:
        pass


class ListSink:
    """Keeps every event in ``events`` (tests, small runs)."""

    def __init__(self):
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def of_type(self, type_: str) -> list[Event]:
        return [e for e in self.events if e.type == type_]


class FanoutSink:
    """Sends every event to several sinks."""

    def __init__(self, *sinks: Sink):
        self.sinks = [s for s in sinks if s is not None]
        barriers = [s.stored for s in self.sinks if getattr(s, "stored", None) is not None]
        if barriers:
            async def stored() -> None:
                for barrier in barriers:
                    await barrier()
            self.stored = stored

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


class StepTable:
    """Folds events into one record per step path: the CLI's and the API's ``steps`` view."""

    def __init__(self):
        self.steps: dict[str, dict] = {}

    def emit(self, event: Event) -> None:
        path = getattr(event, "path", None)
        if path is None or event.type in ("log", "foreach.progress"):
            return
        row = self.steps.get(path)
        if row is None:
            row = self.steps[path] = {"status": "pending", "attempts": 0, "started_at": None,
                                      "finished_at": None, "duration_ms": None, "error": None}
        kind = event.type
        if kind == "step.started":
            row.update(status="running", attempts=event.attempt)
            if row["started_at"] is None:
                row["started_at"] = event.ts
        elif kind == "step.retrying":
            row.update(status="retrying", error=event.error)
        elif kind == "step.waiting":
            row["status"] = "waiting"
        elif kind == "step.compensated":
            row["status"] = "compensated"
        elif kind in ("step.succeeded", "step.failed", "step.cancelled", "step.skipped"):
            row["status"] = kind.split(".")[1]
            row["finished_at"] = event.ts
            if kind == "step.succeeded":
                row.update(error=None, attempts=max(row["attempts"], event.attempt))
            if kind == "step.failed":
                row["error"] = event.error
            if row["started_at"] is not None:
                row["duration_ms"] = round((event.ts - row["started_at"]) * 1000, 3)
            elif kind != "step.skipped":
                row["duration_ms"] = getattr(event, "duration_ms", None)
