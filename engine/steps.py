"""A step's life: lists and nodes (``if``, resume data), and an action step from its inputs
through its attempts to its outcome.

An action step: prepare its inputs → execute (the retry loop spelled out in ``run_action``)
→ record the outcome (``_on_success`` / ``_on_failure`` / ``_on_cancel``). A step that waits
for a person (``approval``) ends ``waiting``. Blocks live in ``blocks/``. Cancellation is never
swallowed except where the run itself asked for it.
"""

from __future__ import annotations

import asyncio
import time

from . import blocks
from . import events as ev
from .actions import ActionContext
from .errors import (ActionError, BudgetExceeded, ExpressionError, StepFailed, StepTimeout, Suspend, UnstorableValue,
                     Waiting)
from .expressions import render
from .failures import PrepareError, describe, retryable, validation_text
from .planner import Node
from .scope import Scope
from .slots import NO_SLOT as _NO_SLOT
from .values import lenient, measured

perf = time.perf_counter


class Steps:
    """The step-running half of a run (``runner._Execution``): it holds the run's state."""

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
            if node.action is not None and node.condition is None and not node.skip and node.compensate is None \
                    and not self.completed:  # plain(): nothing for run_node to do first
                output = await self.run_action(node, scope, prefix + node.id, frames)
            else:
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
            output = await blocks.run_block(self, node, scope, path, frames)
            if output is blocks.SKIPPED:  # a switch without a matching case: nothing to undo
                scope.values[node.id] = None
                return None
            scope.values[node.id] = output
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
        action = node.action
        if node.params is not None and retry is None and step.timeout is None and not self.prior_attempts \
                and self.stored is None and self.run_slots.unlimited and action.is_async:
            # the common step: inputs known at plan time, one attempt, no timeout, no slot, no
            # barrier; the same life as the loop below with nothing optional (and fewer calls)
            try:
                self.budget.step()
            except BudgetExceeded as exc:
                self.emit(ev.StepStarted, path, node.id, "action", step.uses, 1, None)
                self._on_over_budget(path, exc, 1, 0.0)
            started = ctx = None
            try:
                self.emit(ev.StepStarted, path, node.id, "action", step.uses, 1,
                          self.redact(node.shown) if self.redacting else node.shown)
                started = perf()
                ctx = ActionContext(self.run_id, path, 1, self.runner.settings, self.log, self.services)
                output = await action.run(node.params, ctx)
            except asyncio.CancelledError:
                self._on_cancel(path, started)
                raise
            except Exception as exc:  # noqa: BLE001 - any action failure is the step's failure
                output = self._on_raised(node, scope, path, exc, started, frames, ctx)
            else:
                output = self._on_returned(node, scope, path, output, 1, self._account(started, frames, ctx))
            scope.values[node.id] = output
            return output
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

    def _on_raised(self, node: Node, scope: Scope, path: str, exc: Exception, started, frames: tuple, ctx):
        """The common step's one attempt raised (as the loop's handlers, no retry): it waits for
        a person, fails, or ends the run."""
        if isinstance(exc, Suspend):  # an approval: the step waits for a person
            self.emit(ev.StepWaiting, path, self.clean(exc.message), exc.approvers, exc.deadline)
            raise Waiting([path]) from None
        if isinstance(exc, Waiting):  # a sub-workflow's step waits
            raise exc
        message = describe(exc, node.step)
        spent = self._account(started, frames, ctx)
        if isinstance(exc, BudgetExceeded):  # a sub-workflow's budget is this run's: it ends
            self._on_over_budget(path, exc, 1, spent)
        return self._on_failure(node, scope, path, message, 1, spent, exc)

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
            ctx.deadline = deadline  # an action that waits its turn moves it on by that time (engine/throttle.py)
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
