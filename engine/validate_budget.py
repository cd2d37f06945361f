"""The run budgets a workflow would pass, counted on the document before it runs.

Every step is counted as if it ran: a literal foreach list multiplies its body, a repeat
its steps by ``max``, a switch counts its largest case (each budget its own largest), hooks
and compensations count once for each time their step runs. Lists given by an expression are
known only at run time and are checked then. One pass over the steps (each case is counted
once, from the total before the switch), recursing no deeper than the nesting; counts stop
growing at ``_MANY`` (nested literal lists could multiply without end).
"""

from __future__ import annotations

from .spec import ActionStep, ForeachStep, GroupStep, ParallelStep, SwitchStep
from .validate_tree import CASE, HOOK, Broken, lists_of

_MANY = 10**18
_SETTINGS = {"steps": ("action steps", "WORKFLOW_MAX_STEPS"), "sub_runs": ("sub-workflow runs", "WORKFLOW_MAX_SUB_RUNS"),
             "items": ("foreach items", "WORKFLOW_MAX_RUN_ITEMS")}


class Budget:
    """Counts what a run would start and reports, once a budget, the step that passes it."""

    def __init__(self, add, budgets):
        self.add = add  # (path, message) -> None
        self.budgets = budgets
        self.spent = {"steps": 0, "sub_runs": 0, "items": 0}
        self.reported: set[str] = set()
        self.maybe = False  # the count holds work that may not happen (a repeat's passes, a case, a hook)

    def workflow(self, workflow) -> None:
        self.count(workflow.steps, 1, False)
        self.count(workflow.on_failure or [], 1, True)
        self.count(workflow.finally_ or [], 1, False)

    def count(self, steps: list, times: int, maybe: bool) -> None:
        for step in steps:
            if isinstance(step, Broken) or step.if_ is False:
                continue
            if isinstance(step, ActionStep):
                self.spend("steps", times, step, maybe)
                if step.uses == "workflow":
                    self.spend("sub_runs", times, step, maybe)
            elif isinstance(step, ForeachStep):
                if isinstance(step.foreach, list):  # else known only at run time: checked then
                    n = len(step.foreach)
                    limit = self.budgets.items_per_block
                    if n > limit:
                        self.add(step.yaml_path + ("foreach",), f"{n:,} items is more than a foreach may "
                                 f"have ({limit:,}, the WORKFLOW_MAX_ITEMS setting)")
                    self.spend("items", times * n, step, maybe)
                    self.count(step.steps, min(times * n, _MANY), maybe)
            elif isinstance(step, GroupStep) and step.repeat is not None:
                self.count(step.steps, min(times * step.repeat.max, _MANY), maybe or step.repeat.max > 1)
            elif isinstance(step, SwitchStep):
                self.largest_case(step, times)
            elif isinstance(step, (GroupStep, ParallelStep)):
                self.count(step.steps if isinstance(step, GroupStep) else step.parallel, times, maybe)
            for key, inner, kind in lists_of(step):
                if kind == HOOK or key == ("compensate",):  # on_failure and compensate may not run
                    self.count(inner, times, maybe or key != ("finally",))

    def largest_case(self, step: SwitchStep, times: int) -> None:
        before = dict(self.spent)
        largest = dict(before)
        for _, case, kind in lists_of(step):
            if kind == CASE:
                self.spent = dict(before)
                self.count(case, times, True)
                largest = {what: max(largest[what], self.spent[what]) for what in largest}
        self.spent = largest

    def spend(self, what: str, amount: int, step, maybe: bool) -> None:
        self.spent[what] = min(self.spent[what] + amount, _MANY)
        self.maybe = self.maybe or maybe
        limit = getattr(self.budgets, "items_per_run" if what == "items" else what)
        if self.spent[what] > limit and what not in self.reported:
            self.reported.add(what)
            noun, setting = _SETTINGS[what]
            if self.maybe:
                start = (f"with this step a run could start up to {self.spent[what]:,} {noun} (counting every "
                         f"repeat pass, the largest switch case, on_failure and compensations)")
            else:
                start = f"with this step a run would start at least {self.spent[what]:,} {noun}"
            self.add(step.yaml_path, f"{start}, more than its budget of {limit:,} (the {setting} setting)")
