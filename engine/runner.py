"""The async runner: executes a Plan, emitting events to a sink.

A step's life: prepare its inputs → execute (the retry loop spelled out in ``_run_action``)
→ record the outcome (``_on_success`` / ``_on_failure`` / ``_on_cancel``). Blocks live in
``blocks.py``. Cancellation is never swallowed except where the run itself asked for it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from . import blocks
from . import events as ev
from .actions import ActionContext, ActionRegistry, default_registry
from .budgets import RunBudget
from .errors import (ActionError, BudgetExceeded, ExpressionError, InputsInvalid, StepFailed, StepTimeout,
                     Suspend, UnstorableValue, Waiting)
from .expressions import Evaluator, render
from .failures import PrepareError, describe, retryable, validation_text
from .inputs import coerce_inputs
from .planner import Node, Plan
from .redaction import Redactor
from .scope import Scope, Secrets
from .settings import EngineSettings
from .slots import NO_SLOT as _NO_SLOT, RunSlots as _RunSlots
from .stats import BlockStat
from .values import lenient, measured, normalize

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
        try:
            return await execution.execute()
        finally:
            self._runs.pop(execution.run_id, None)

    async def run_items(self, plan: Plan, path: str, values: dict, pairs: list, total: int, sink: ev.Sink,
                        **options) -> None:
        """Run part of a distributed foreach here: see ``engine.distributed.run_items``."""
        from .distributed import run_items

        await run_items(self, plan, path, values, pairs, total, sink, **options)

    def cancel(self, run_id: str) -> bool:
        """Ask a running run to stop; True when it was running here."""
        execution = self._runs.get(run_id)
        if execution is None:
            return False
        execution.cancel()
        return True

    def close(self) -> None:
        """Nothing to release: the pools are shared and last as long as the process (engine/pool.py)."""


class _Execution:
    """The state of one run."""

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
        # shared with sub-workflow runs, which count against the run that started them
        self.budget = runner.services.get("budget") or RunBudget(runner.settings.budgets)
        # the run's limits, and those of the runs that called it (``workflow`` steps)
        self.run_slots = _RunSlots(plan.workflow.limits, runner.services.get("limits", ()))
        self.stats: dict[str, BlockStat] = {}
        self.work = 0.0
        self.action_steps = 0
        self.tokens: dict[str, int] = {}
        self.cancel_requested = False
        self.body: asyncio.Task | None = None
        self.loop_thread = threading.get_ident()
        self.resources: dict = {}  # per-run things actions share (the http client); closed at the end
        self.stored = getattr(sink, "stored", None)  # the sink's barrier (events.Sink), if it stores
        self.services = {"executor": runner.executor, "runner": runner, "registry": runner.registry,
                         "chain": [plan.workflow.name], **runner.services, "resources": self.resources,
                         "forward": self.forward, "budget": self.budget, "stored": self.stored,
                         "limits": self.run_slots.chain(),
                         # the run's secret values, for actions that must not send them on (http redirects)
                         "secret_values": tuple(str(v) for v in runner.secrets.values() if v)}

    # -- events ------------------------------------------------------------------------------
    def emit(self, cls, *args) -> None:
        """Number, stamp and send one event."""
        self.seq += 1
        self.sink.emit(cls(self.seq, now(), self.run_id, *args))

    def forward(self, event, prefix: str) -> None:
        """Re-emit a sub-run's event here, its path under ``prefix`` (``workflow`` steps)."""
        self.seq += 1
        self.sink.emit(dataclasses.replace(event, seq=self.seq, run_id=self.run_id, path=prefix + event.path))

    def clean(self, data):
        """Secrets redacted (a no-op when the run has none)."""
        return self.redact(data) if self.redact else data

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
            status, error, failure = "failed", str(exc) if exc.path else exc.message, exc
        except BudgetExceeded as exc:
            status, error = "failed", str(exc)
        except TimeoutError:
            if not deadline.expired():
                raise
            status, error = "failed", f"the run timed out after {workflow.limits.timeout:g} s"
        except Waiting:
            status = "waiting"  # continued from its stored state once someone decides
        except asyncio.CancelledError:
            await blocks.finally_after_cancel(self, self.plan.finally_, root, "")
            await self.close_resources()
            result = self.finish("cancelled", None, "cancelled", start)
            if self.cancel_requested:
                asyncio.current_task().uncancel()  # we asked for it: the run ends normally
                return result
            raise
        except ExpressionError as exc:
            status, error = "failed", f"outputs: {exc}"
        try:
            if status in ("failed", "succeeded"):
                status, error = await self._wind_up(ledger, root, status, error, failure)
        finally:
            await self.close_resources()
        return self.finish(status, outputs if status == "succeeded" else None, self.clean(error), start)

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
            hook = await blocks.run_hooks(self, plan.on_failure, plan.finally_, root, "", status,
                                          blocks.origin(failure) if failure is not None else
                                          {"step": None, "message": error} if error else None)
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
                "tokens": dict(self.tokens), "blocks": [s.as_dict() for s in self.stats.values()]}

    def finish(self, status, outputs, error, start) -> RunResult:
        """Emit ``run.finished`` and return the same facts as a RunResult."""
        wall = perf() - start
        summary = self.summary(wall)
        self.emit(ev.RunFinished, status, outputs, error, round(wall * 1000, 3), summary)
        return RunResult(self.run_id, status, outputs, error, round(wall * 1000, 3), summary)

    # -- lists and nodes ---------------------------------------------------------------------
    async def run_list(self, nodes: list[Node], dag: bool, scope: Scope, prefix: str, frames: tuple,
                       policy: str = "fail_fast"):
        """Run a step list (a sequence, or a needs-DAG) under its failure policy; its output is
        its last step's."""
        if dag:
            return await blocks.run_dag(self, nodes, scope, prefix, frames, policy)
        if policy in ("wait_all", "continue"):
            return await blocks.run_sequence(self, nodes, scope, prefix, frames, policy)
        output = None
        for node in nodes:
            output = await self.run_node(node, scope, prefix, frames)
        return output

    async def run_node(self, node: Node, scope: Scope, prefix: str, frames: tuple):
        """Run one step of any kind, honouring resume data and ``if``."""
        path = prefix + node.id
        if self.completed and path in self.completed:
            return self._reuse(node, scope, prefix)
        if node.skip or node.condition is not None:
            reason = self._skip_reason(node, scope, path)
            if reason:
                if reason is not _CONTINUED:
                    self.emit(ev.StepSkipped, path, reason)
                scope.values[node.id] = None
                return None
        if node.action is not None:
            output = await self.run_action(node, scope, path, frames)
        else:
            output = scope.values[node.id] = await blocks.run_block(self, node, scope, path, frames)
        if node.compensate is not None:
            blocks.remember(node, path, scope, output)
        return output

    def plain(self, node: Node) -> bool:
        """True when ``node`` can go straight to ``run_action`` (no ``if``, no resume data, nothing
        to undo)."""
        return (node.action is not None and node.condition is None and not node.skip and not self.completed
                and node.compensate is None)

    def _skip_reason(self, node: Node, scope: Scope, path: str) -> str | None:
        if node.skip:
            return "if: false"
        try:
            value = self.evaluator.evaluate(node.condition, scope)
        except ExpressionError as exc:  # the step's error, as one in its ``with`` would be
            go_on = node.action is not None and node.step.on_error == "continue"
            self.emit(ev.StepFailed, path, self.clean(f"if: {exc}"), 0, 0.0, go_on)
            if go_on:
                return _CONTINUED
            raise StepFailed(path, f"if: {exc}") from None
        return None if value else f"if: {node.condition.strip()} was false"

    def _reuse(self, node: Node, scope: Scope, prefix: str):
        path = prefix + node.id
        output = self.completed[path]
        self.emit(ev.StepSucceeded, path, self.clean(output), 0, 0.0, True)
        scope.values[node.id] = output
        if node.compensate is not None:
            blocks.remember(node, path, scope, output)
        if node.kind in ("parallel", "group"):
            inner = f"{path}."
            for child in node.children:
                if inner + child.id in self.completed:
                    self._reuse(child, scope, inner)
        return output

    # -- action steps ------------------------------------------------------------------------
    async def run_action(self, node: Node, scope: Scope, path: str, frames: tuple):
        """An action step with its retry loop; stores and returns its output."""
        step = node.step
        retry = step.retry
        attempt = self.prior_attempts.get(path, 0) if self.prior_attempts else 0
        while True:
            attempt += 1
            started = ctx = None
            params = node.params
            if params is None:
                try:
                    params = self._params(node, scope)
                except PrepareError as exc:
                    self.emit(ev.StepStarted, path, node.id, "action", step.uses, attempt, None)
                    output = self._on_failure(node, scope, path, str(exc), attempt, 0.0, exc)
                    scope.values[node.id] = output
                    return output
            try:
                self.budget.step()
            except BudgetExceeded as exc:
                self.emit(ev.StepStarted, path, node.id, "action", step.uses, attempt, None)
                self._on_over_budget(path, exc, attempt, 0.0)
            try:
                slot = self.run_slots.for_node(node)
                if slot is not _NO_SLOT:
                    await slot.acquire()
                try:
                    self.emit(ev.StepStarted, path, node.id, "action", step.uses, attempt,
                              self.clean(lenient(_dump(params)) if node.params is None else node.shown))
                    if self.stored is not None:  # its start and all before it stored before its effect
                        await self.stored()
                    started = perf()
                    action = node.action
                    ctx = ActionContext(self.run_id, path, attempt, self.runner.settings, self.log, self.services)
                    if step.timeout is None:  # the common case, kept free of extra frames
                        output = await (action.run(params, ctx) if action.is_async else
                                        self.loop.run_in_executor(self.runner.executor, action.run, params, ctx))
                    else:
                        output = await self._with_timeout(action, params, ctx, step.timeout)
                finally:
                    if slot is not _NO_SLOT:
                        slot.release()
            except asyncio.CancelledError:
                self._on_cancel(path, started)
                raise
            except Suspend as exc:  # an approval: the step waits for a person
                self.emit(ev.StepWaiting, path, self.clean(exc.message), exc.approvers, exc.deadline)
                raise Waiting([path]) from None
            except Waiting:  # a sub-workflow's step waits
                raise
            except Exception as exc:  # noqa: BLE001 - any action failure is the step's failure
                message = describe(exc, step)
                spent = self._account(started, frames, ctx)
                if isinstance(exc, BudgetExceeded):  # a sub-workflow's budget is this run's: it ends
                    self._on_over_budget(path, exc, attempt, spent)
                if retry and attempt < retry.attempts and retryable(exc):
                    delay = max(retry.delay_before(attempt + 1), getattr(exc, "retry_after", 0) or 0)
                    self.emit(ev.StepRetrying, path, attempt, delay, self.clean(message))
                    try:
                        await asyncio.sleep(delay)
                    except asyncio.CancelledError:  # cancelled between attempts: the step ends cancelled
                        self._on_cancel(path, None)
                        raise
                    continue
                output = self._on_failure(node, scope, path, message, attempt, spent, exc)
            else:
                output = self._on_returned(node, scope, path, output, attempt, self._account(started, frames, ctx))
            scope.values[node.id] = output
            return output

    def _params(self, node: Node, scope: Scope):
        try:
            raw = render(node.step.with_, scope, self.evaluator)
        except ExpressionError as exc:
            raise PrepareError(f"with: {exc}") from None
        try:
            return node.action.parse(raw)
        except Exception as exc:  # pydantic ValidationError: the resolved values do not fit
            raise PrepareError(f"with: {validation_text(exc)}") from None

    async def _with_timeout(self, action, params, ctx, timeout: float):
        call = action.run(params, ctx) if action.is_async else \
            self.loop.run_in_executor(self.runner.executor, action.run, params, ctx)
        async with asyncio.timeout(timeout) as deadline:
            try:
                return await call
            except TimeoutError:
                if deadline.expired():
                    raise
                raise ActionError("the action raised a timeout of its own") from None

    def _account(self, started: float | None, frames: tuple, ctx=None) -> float:
        """Count an attempt's time as work: from its call to its end, less what it spent queued."""
        if started is None:
            return 0.0
        spent = max(perf() - started - (ctx.waited if ctx is not None else 0.0), 0.0)
        self.work += spent
        for frame in frames:
            frame.work += spent
        return spent

    def _on_returned(self, node: Node, scope: Scope, path: str, output, attempt: int, spent: float):
        """At the step boundary: the output as JSON-safe data, counted against the run's budget."""
        try:
            output, size = measured(output, limit=self.budget.limits.step_output_bytes)
            self.budget.output(size)
        except UnstorableValue as exc:
            return self._on_failure(node, scope, path, str(exc), attempt, spent, exc)
        except BudgetExceeded as exc:
            self._on_over_budget(path, exc, attempt, spent)
        return self._on_success(path, output, attempt, spent)

    def _on_over_budget(self, path: str, exc: BudgetExceeded, attempt: int, spent: float):
        """The run went past a budget at this step: the step fails, and ``exc`` ends the run."""
        self.emit(ev.StepFailed, path, str(exc), attempt, round(spent * 1000, 3), False)
        raise exc

    def _on_success(self, path: str, output, attempt: int, spent: float):
        self.action_steps += 1
        if type(output) is dict and type(output.get("usage")) is dict:  # a model's token counts
            for key in ("prompt_tokens", "completion_tokens"):
                value = output["usage"].get(key)
                if isinstance(value, int):
                    self.tokens[key] = self.tokens.get(key, 0) + value
        self.emit(ev.StepSucceeded, path, self.clean(output), attempt, round(spent * 1000, 3), False)
        return output

    def _on_failure(self, node: Node, scope: Scope, path: str, message: str, attempt: int, spent: float, exc):
        self.action_steps += 1
        go_on = node.step.on_error == "continue"
        self.emit(ev.StepFailed, path, self.clean(message), attempt, round(spent * 1000, 3), go_on)
        if go_on:
            return None
        cls = StepTimeout if isinstance(exc, TimeoutError) else StepFailed
        raise cls(path, message) from None

    def _on_cancel(self, path: str, started: float | None) -> None:
        """A cancelled attempt: its time is shown on the step, never counted as work."""
        spent = perf() - started if started is not None else 0.0
        self.emit(ev.StepCancelled, path, round(spent * 1000, 3))


_CONTINUED = "failed, and on_error: continue"  # _skip_reason: the step failed and the run goes on


def _dump(params):
    dump = getattr(params, "model_dump", None)
    return dump(mode="json") if dump else params
