"""The async runner: executes a Plan, emitting events to a sink.

A run: ``run.started`` → its steps (``steps.py``: a step's life; ``blocks/``: the blocks) →
on failure its rollback and ``on_failure``, always its ``finally`` → ``run.finished``
(succeeded, failed, cancelled, or waiting for a person). Cancellation is never swallowed
except where the run itself asked for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import blocks
from . import events as ev
from . import subruns
from .actions import ActionRegistry, default_registry
from .budgets import RunBudget
from .critical import CriticalPath, shape_of
from .distributed import find, run_part
from .errors import BudgetExceeded, ExpressionError, InputsInvalid, StepFailed, UnstorableValue, Waiting
from .expressions import Evaluator, render
from .inputs import coerce_inputs
from .planner import Plan
from .redaction import Redactor
from .scope import Scope, Secrets
from .settings import EngineSettings
from .slots import RunSlots as _RunSlots
from .stats import BlockStat
from .steps import Steps
from .values import lenient, normalize

perf = time.perf_counter
now = time.time


@dataclass
class RunResult:
    """How a run ended."""

    run_id: str
    status: str  # succeeded | failed | cancelled | waiting
    outputs: Any
    error: str | None
    duration_ms: float
    summary: dict = field(default_factory=dict)


class _Collector:
    """While any run is under way in this process, the garbage collector's full pass comes
    ``FACTOR`` times less often; the thresholds are put back when the last run ends.

    A full pass scans every tracked object of the process (a 10,000-step plan is ~180k of
    them), and with the default thresholds one comes every ~70k net allocations: a run that
    keeps 10,000 tasks and their events pays for several, about half its time. The younger
    generations are collected as before, so short-lived cycles are freed as soon as ever; what
    reached the oldest generation waits for at most ``FACTOR`` times longer (a bound, never a
    leak: nothing is frozen or disabled). Other runs in the process only gain. If something
    else changed the thresholds meanwhile, theirs are kept.
    """

    FACTOR = 10

    def __init__(self):
        self.lock = threading.Lock()  # runs may be under way on several threads' loops
        self.runs = 0
        self.saved = self.raised = None

    def enter(self) -> None:
        with self.lock:
            self.runs += 1
            if self.runs == 1:
                self.saved = gc.get_threshold()
                first, second, third = self.saved
                self.raised = (first, second, third * self.FACTOR)
                gc.set_threshold(*self.raised)

    def leave(self) -> None:
        with self.lock:
            self.runs -= 1
            if self.runs == 0 and gc.get_threshold() == self.raised:
                gc.set_threshold(*self.saved)


COLLECTOR = _Collector()


class Runner:
    """Runs plans. One Runner may run many plans at once; each run has its own id."""

    def __init__(self, registry: ActionRegistry | None = None, settings: EngineSettings | None = None,
                 secrets: dict | None = None, services: dict | None = None):
        self.registry = registry or default_registry()
        self.settings = settings or EngineSettings()
        self.secrets = dict(secrets or {})
        self.services = dict(services or {})
        self._executor: ThreadPoolExecutor | None = None
        self._runs: dict[str, _Execution] = {}

    @property
    def executor(self):
        """The process-wide thread pool for sync action code (engine/pool.py), shared by every run."""
        if self._executor is None:
            from .pool import threads

            self._executor = threads(self.settings.threads)
        return self._executor

    async def run(self, plan: Plan, inputs: dict | None = None, sink: ev.Sink | None = None, *,
                  run_id: str | None = None, completed: dict | None = None, seq: int = 0,
                  attempts: dict | None = None, approvals: dict | None = None) -> RunResult:
        """Run ``plan`` to its end; InputsInvalid is raised before anything starts.

        ``completed`` maps step paths to outputs of an earlier run: those steps are not run
        again (resume). A run taken over from a process that stopped goes on from its own
        stored state: its events continue after ``seq``, and a step that had ``attempts[path]``
        attempts starts at the next one. ``approvals`` (step path → decision, see
        ``actions/approval.py``) makes ``approval`` steps possible: without it they fail.
        """
        values = coerce_inputs(plan.workflow, inputs)
        try:  # at the door: a run's inputs are stored and sent, so they must be JSON data
            values = normalize(values, "inputs")
        except UnstorableValue as exc:
            raise InputsInvalid([str(exc)]) from None
        execution = _Execution(self, plan, values, sink or ev.NullSink(), run_id or uuid.uuid4().hex,
                               completed or {})
        execution.seq = seq
        execution.prior_attempts = attempts or {}
        if approvals is not None:
            execution.services["approvals"] = approvals
        self._runs[execution.run_id] = execution
        COLLECTOR.enter()
        try:
            return await execution.execute()
        finally:
            COLLECTOR.leave()
            self._runs.pop(execution.run_id, None)

    async def run_items(self, plan: Plan, path: str, values: dict, pairs: list, total: int, sink: ev.Sink, *,
                        run_id: str, lanes: int = 1, attempts: dict | None = None, completed: dict | None = None,
                        on_item) -> None:
        """A worker's part of a distributed foreach: the body of the foreach at ``path`` for
        ``pairs`` (index, item) of its ``total`` items, ``lanes`` at a time, seeing ``values``
        outside the body. Events go to ``sink`` (no run events); ``on_item(index, output,
        error)`` follows each item's last. ``completed`` and ``attempts`` are as in ``run``
        (steps a worker that stopped finished, or had under way). ``cancel(run_id)`` stops it."""
        node = find(plan.nodes, path)
        if node is None or node.kind != "foreach":
            raise ValueError(f"{path} is not a foreach of this workflow")
        execution = _Execution(self, plan, values.get("inputs") or {}, sink, run_id, completed or {})
        execution.prior_attempts = attempts or {}
        root = Scope({**values, "secrets": Secrets(self.secrets)}, known=plan.step_ids)
        self._runs[run_id] = execution
        execution.loop = asyncio.get_running_loop()
        execution.body = asyncio.ensure_future(run_part(execution, node, path, root, pairs, total, lanes, on_item))
        COLLECTOR.enter()
        try:
            await execution.body
        finally:
            COLLECTOR.leave()
            self._runs.pop(run_id, None)
            await execution.close_resources()

    def cancel(self, run_id: str) -> bool:
        """Ask a running run to stop; True when it was running here."""
        execution = self._runs.get(run_id)
        if execution is None:
            return False
        execution.cancel()
        return True

    def close(self) -> None:
        """Nothing to release: the pools are shared and last as long as the process (engine/pool.py)."""


class _Execution(Steps):
    """The state of one run, its start and its end; its steps run in ``steps.Steps``."""

    def __init__(self, runner: Runner, plan: Plan, inputs: dict, sink: ev.Sink, run_id: str, completed: dict):
        self.runner = runner
        self.plan = plan
        self.inputs = inputs
        self.sink = sink
        self.run_id = run_id
        self.completed = completed
        self.seq = 0
        self.prior_attempts: dict[str, int] = {}  # path -> attempts made before a takeover
        self.evaluator = Evaluator()
        self.redact = Redactor(runner.secrets)
        self.redacting = bool(self.redact)  # read twice a step: the Redactor's own test is a call
        # shared with sub-workflow runs, which count against the run that started them
        self.budget = runner.services.get("budget") or RunBudget(runner.settings.budgets)
        # the run's limits, and those of the runs that called it (``workflow`` steps)
        self.run_slots = _RunSlots(plan.workflow.limits, runner.services.get("limits", ()))
        self.stats: dict[str, BlockStat] = {}
        self.critical = CriticalPath(shape_of(plan))  # fed every step event (emit, forward)
        self.fold, self.send = self.critical.emit, sink.emit  # bound once: emit runs twice a step
        self.work = 0.0
        self.action_steps = 0
        self.tokens: dict[str, int] = {}
        self.cancel_requested = False
        self.finally_begun = False  # the run's ``finally`` steps have started (they run once)
        self.grace_until = None  # after a cancel: when every ``finally`` must be done (loop time)
        self.body: asyncio.Task | None = None
        self.loop_thread = threading.get_ident()
        self.resources: dict = {}  # per-run things actions share (the http client); closed at the end
        self.stored = getattr(sink, "stored", None)  # the sink's barrier (events.Sink), if it stores
        self.services = {"executor": runner.executor, "runner": runner, "registry": runner.registry,
                         "chain": [plan.workflow.name], **runner.services, "resources": self.resources,
                         "forward": self.forward, "budget": self.budget, "stored": self.stored,
                         "subworkflow": functools.partial(subruns.run_subworkflow, self),
                         "limits": self.run_slots.chain(), "waited": self.critical.waited,
                         # the run's secret values, for actions that must not send them on (http redirects)
                         "secret_values": tuple(str(v) for v in runner.secrets.values() if v)}

    # -- events ------------------------------------------------------------------------------
    def emit(self, cls, *args) -> None:
        """Number, stamp and send one event."""
        self.seq += 1
        event = cls.fast(self.seq, now(), self.run_id, *args)  # events.py: ``cls(...)``, cheaper
        self.fold(event)
        self.send(event)

    def forward(self, event, prefix: str) -> None:
        """Re-emit a sub-run's event here, its path under ``prefix`` (``workflow`` steps)."""
        self.seq += 1
        event = dataclasses.replace(event, seq=self.seq, run_id=self.run_id, path=prefix + event.path)
        self.critical.emit(event)  # a sub-workflow's steps stay inside their step; a spread item's count
        self.sink.emit(event)

    def clean(self, data):
        """Secrets redacted (a no-op when the run has none)."""
        return self.redact(data) if self.redacting else data

    def log(self, path: str, message: str, level: str = "info") -> None:
        """A log line from an action; safe to call from the action's thread."""
        if threading.get_ident() == self.loop_thread:
            self.emit(ev.LogLine, path, level, self.clean(str(message)))
        else:
            self.loop.call_soon_threadsafe(self.emit, ev.LogLine, path, level, self.clean(str(message)))

    # -- the run -----------------------------------------------------------------------------
    def cancel(self) -> None:
        if self.cancel_requested:  # once: a second cancel would cut the ``finally`` steps short
            return
        self.cancel_requested = True
        if self.body is not None:
            self.body.cancel()

    async def execute(self) -> RunResult:
        self.loop = asyncio.get_running_loop()
        self.body = asyncio.create_task(self._body())
        return await self.body

    async def _body(self) -> RunResult:
        workflow = self.plan.workflow
        self.emit(ev.RunStarted, workflow.name, self.clean(self.inputs), self.plan.describe())
        start = perf()
        root = Scope({"inputs": self.inputs, "secrets": Secrets(self.runner.secrets)}, known=self.plan.step_ids)
        status, outputs, error, failure = "succeeded", None, None, None
        ledger = blocks.Ledger(None) if workflow.on_error == "rollback" else None
        if ledger is not None:
            blocks.LEDGER.set(ledger)  # this task's own context: the run's steps inherit it
        try:
            async with asyncio.timeout(workflow.limits.timeout) as deadline:
                await self.run_list(self.plan.nodes, self.plan.dag, root, "", (), workflow.on_error)
            outputs = self.clean(lenient(self.outputs(root)))  # literal text of the template too
        except StepFailed as exc:
            status, error, failure = "failed", blocks.told(exc), exc
        except BudgetExceeded as exc:
            status, error = "failed", str(exc)
        except TimeoutError:
            if not deadline.expired():
                raise
            status, error = "failed", f"the run timed out after {workflow.limits.timeout:g} s"
        except Waiting:
            status = "waiting"  # continued from its stored state once someone decides
        except asyncio.CancelledError:
            return await self._cancelled(root, start)
        except ExpressionError as exc:
            status, error = "failed", f"outputs: {exc}"
        try:
            if status in ("failed", "succeeded"):
                status, error = await self._wind_up(ledger, root, status, error, failure)
        except asyncio.CancelledError:  # during the rollback or the hooks
            return await self._cancelled(root, start)
        finally:
            await self.close_resources()
        return self.finish(status, outputs if status == "succeeded" else None, self.clean(error), start)

    async def _cancelled(self, root: Scope, start: float) -> RunResult:
        """The run was cancelled: its ``finally`` (unless under way already), then ``run.finished``."""
        if not self.finally_begun:
            self.finally_begun = True
            await blocks.finally_after_cancel(self, self.plan.finally_, root, "")
        await self.close_resources()
        result = self.finish("cancelled", None, "cancelled", start)
        if self.cancel_requested:
            asyncio.current_task().uncancel()  # we asked for it: the run ends normally
            return result
        raise asyncio.CancelledError

    async def _wind_up(self, ledger, root: Scope, status: str, error, failure):
        """The run's rollback (on failure) and its hooks, bounded by the grace period once the
        run's own time is up; a hook's failure is recorded and fails a run that had succeeded."""
        plan = self.plan
        if ledger is None and plan.on_failure is None and plan.finally_ is None:
            return status, error
        limit = self.plan.workflow.limits.timeout
        grace = self.runner.settings.finally_grace if limit is not None else None
        async with asyncio.timeout(grace):  # after a run timeout, the rest is bounded too
            if status == "failed" and ledger is not None:
                error += blocks.rollback_note(await blocks.rollback(self, ledger, ""))
            error_data = blocks.origin(failure) if failure is not None else \
                {"step": None, "message": error} if error else None
            hook = await blocks.run_hooks(self, plan.on_failure, None, root, "", status, error_data)
            self.finally_begun = True
            hook = await blocks.run_hooks(self, None, plan.finally_, root, "", status, error_data) or hook
        if hook is not None and status == "succeeded":
            return "failed", f"finally: {hook}"
        return status, error

    async def close_resources(self) -> None:
        for resource in list(self.resources.values()):
            close = getattr(resource, "aclose", None) or getattr(resource, "close", None)
            if close is not None and asyncio.iscoroutinefunction(close):
                try:
                    await close()
                except Exception:  # noqa: BLE001 - closing must not change how the run ended
                    pass
        self.resources.clear()

    def outputs(self, root: Scope):
        template = self.plan.workflow.outputs
        if template is None:
            return {node.id: root.values.get(node.id) for node in self.plan.nodes}
        return render(template, root, self.evaluator)

    def summary(self, wall: float) -> dict:
        return {"wall_ms": round(wall * 1000, 3), "work_ms": round(self.work * 1000, 3),
                "speedup": round(self.work / wall, 2) if wall > 0 else None,
                "saved_ms": round(max(self.work - wall, 0) * 1000, 3), "action_steps": self.action_steps,
                "tokens": dict(self.tokens), "blocks": [s.as_dict() for s in self.stats.values()],
                **self.critical.summary(now())}

    def finish(self, status, outputs, error, start) -> RunResult:
        """Emit ``run.finished`` and return the same facts as a RunResult."""
        wall = perf() - start
        summary = self.summary(wall)
        self.emit(ev.RunFinished, status, outputs, error, round(wall * 1000, 3), summary)
        return RunResult(self.run_id, status, outputs, error, round(wall * 1000, 3), summary)
