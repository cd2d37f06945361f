"""``repeat`` on a group: its steps run again, pass after pass, until a condition holds.

Each pass runs in its own scope (``${loop.index}``, and the pass's step outputs), with step
paths ``poll[2].check``; ``until`` is evaluated after each pass in that scope. The output is
the last pass's; after the group its steps read as their last pass's values.
"""

from __future__ import annotations

import asyncio

from .. import events as ev
from ..errors import ExpressionError, StepFailed


async def run_repeat(ex, node, scope, path: str, frames: tuple):
    repeat = node.step.repeat
    for index in range(repeat.max):
        if index and repeat.delay:
            await asyncio.sleep(repeat.delay)
        values = {"loop": {"index": index, "first": index == 0, "last": index == repeat.max - 1,
                           "length": repeat.max}}
        pass_scope = scope.child(values)
        output = await ex.run_list(node.children, node.dag, pass_scope, f"{path}[{index}].", frames,
                                   node.policy)
        try:
            done = ex.evaluator.evaluate(node.until, pass_scope)
        except ExpressionError as exc:
            raise StepFailed(path, f"repeat.until: {exc}") from None
        if done:
            values.pop("loop")
            scope.values.update(values)  # after the group, its steps read as their last pass's
            ex.emit(ev.LogLine, path, "info", f"until held after pass {index + 1}")
            return output
    raise StepFailed(path, f"did not finish in {repeat.max} passes (until stayed false)")
