"""Run budgets: how much one run (with its sub-workflows) may do before it is stopped.

A budget is a door, not a check spread through the runner: every action step passes
``step()`` before it starts, every foreach passes ``items()`` with its item count before its
first item, every output passes ``output()`` with its size once normalised, and every
``workflow`` step passes ``sub_run()``. A run and all of its nested sub-runs share one
``RunBudget``, so fan-out through ``workflow`` steps counts against the run that started
it. Going past a budget raises ``BudgetExceeded``, which ends the whole run ``failed`` (an
``on_error: continue`` step cannot swallow it).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BudgetExceeded


@dataclass(frozen=True)
class Budgets:
    """The limits (EngineSettings.budgets; Django settings ``WORKFLOW_MAX_*``)."""

    #: action steps executed in a run, each attempt counted, sub-workflows included
    steps: int = 1_000_000
    #: items of one foreach block
    items_per_block: int = 100_000
    #: foreach items in a whole run, every block and sub-workflow together
    items_per_run: int = 1_000_000
    #: bytes of step outputs (their JSON size) in a run
    output_bytes: int = 256 * 1024 * 1024
    #: bytes of one step's output (a bigger one fails its step)
    step_output_bytes: int = 32 * 1024 * 1024
    #: ``workflow`` steps started in a run (nested fan-out)
    sub_runs: int = 1_000


class RunBudget:
    """What one run has spent so far; shared with its sub-runs."""

    __slots__ = ("limits", "steps", "items", "output_bytes", "sub_runs", "exceeded")

    def __init__(self, limits: Budgets):
        self.limits = limits
        self.steps = self.items = self.output_bytes = self.sub_runs = 0
        #: the first budget spent: a sub-run that ended on it ends its parent too
        self.exceeded: BudgetExceeded | None = None

    def _over(self, what: str, limit: int, message: str) -> BudgetExceeded:
        error = BudgetExceeded(what, limit, message)
        if self.exceeded is None:
            self.exceeded = error
        return error

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limits.steps:
            raise self._over("steps", self.limits.steps,
                                 f"the run's budget of {self.limits.steps:,} executed steps is spent "
                                 "(the WORKFLOW_MAX_STEPS setting)")

    def foreach(self, count: int) -> None:
        if count > self.limits.items_per_block:
            raise self._over("items", self.limits.items_per_block,
                                 f"{count:,} items is more than a foreach may have "
                                 f"({self.limits.items_per_block:,}, the WORKFLOW_MAX_ITEMS setting)")
        self.items += count
        if self.items > self.limits.items_per_run:
            raise self._over("items", self.limits.items_per_run,
                                 f"the run's budget of {self.limits.items_per_run:,} foreach items is spent "
                                 "(the WORKFLOW_MAX_RUN_ITEMS setting)")

    def output(self, size: int) -> None:
        self.output_bytes += size
        if self.output_bytes > self.limits.output_bytes:
            raise self._over("bytes", self.limits.output_bytes,
                                 f"the run's outputs passed {_mib(self.limits.output_bytes)} "
                                 "(the WORKFLOW_MAX_OUTPUT_BYTES setting)")

    def sub_run(self) -> None:
        self.sub_runs += 1
        if self.sub_runs > self.limits.sub_runs:
            raise self._over("sub-runs", self.limits.sub_runs,
                                 f"the run's budget of {self.limits.sub_runs:,} sub-workflow runs is spent "
                                 "(the WORKFLOW_MAX_SUB_RUNS setting)")


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:g} MiB"
