"""Compensation: undoing succeeded steps when a block (or the run) with ``on_error: rollback`` fails.

A rollback block opens a ledger; every step inside that succeeds and has ``compensate``
writes itself into the innermost open ledger (a context variable: tasks started inside the
block inherit it). A block that itself has ``compensate`` collects its steps' entries and, once
it succeeds, stands for them (its own compensation undoes it as a whole); when it fails, its
entries go up to the enclosing ledger. A rollback block that succeeds hands its entries up too,
so an outer rollback can still undo them.

On a failure the block's entries are undone newest first, one at a time (a foreach's items in
reverse order); a failing compensation is recorded (its steps' events) and the rest still run.
"""

from __future__ import annotations

import itertools
import re
from contextvars import ContextVar
from dataclasses import dataclass

from .. import events as ev
from ..errors import BudgetExceeded, StepFailed, Waiting
from .common import ms, perf

LEDGER: ContextVar["Ledger | None"] = ContextVar("workflow_ledger", default=None)
_order = itertools.count()


@dataclass(slots=True)
class Entry:
    order: int
    path: str
    node: object
    scope: object
    output: object


class Ledger:
    """The succeeded steps that can be undone, of one rollback block (or compensating block)."""

    __slots__ = ("parent", "entries")

    def __init__(self, parent: "Ledger | None"):
        self.parent = parent
        self.entries: list[Entry] = []

    def hand_up(self) -> None:
        """Give the entries to the enclosing ledger (nothing when there is none)."""
        if self.parent is not None:
            self.parent.entries.extend(self.entries)
        self.entries = []


def remember(node, path: str, scope, output) -> None:
    """Note a succeeded step with ``compensate`` in the innermost open ledger."""
    ledger = LEDGER.get()
    if ledger is not None:
        ledger.entries.append(Entry(next(_order), path, node, scope, output))


def _order_key(block_path: str, foreach: bool):
    head = re.compile(re.escape(block_path + "[") + r"(\d+)\]") if foreach else None

    def key(entry: Entry):
        index = 0
        if head is not None:
            match = head.match(entry.path)
            index = int(match.group(1)) if match else 0
        return (index, entry.order)
    return key


async def rollback(ex, ledger: Ledger, block_path: str, foreach: bool = False) -> list[str]:
    """Undo the ledger's entries, newest first; the failures, as text (empty: all undone)."""
    entries = sorted(ledger.entries, key=_order_key(block_path, foreach), reverse=True)
    ledger.entries = []
    failures = []
    for entry in entries:
        nodes, dag = entry.node.compensate
        scope = entry.scope.child({entry.node.id: entry.output})
        started = perf()
        try:
            await ex.run_list(nodes, dag, scope, entry.path + ".compensate.", ())
        except StepFailed as exc:
            failures.append(str(exc))
            continue
        except BudgetExceeded as exc:  # the rest would meet the same wall
            failures.append(f"{entry.path}: {exc}")
            break
        except Waiting as exc:  # nobody can be asked while a rollback runs
            failures.append(f"{entry.path}: an approval cannot wait during a rollback")
            for path in exc.paths:
                ex.emit(ev.StepFailed, path, "an approval cannot wait during a rollback", 1, 0.0, False)
            continue
        ex.emit(ev.StepCompensated, entry.path, ms(started))
    return failures


def rollback_note(failures: list[str]) -> str:
    if not failures:
        return ""
    if len(failures) == 1:
        return f" (rollback failed at {failures[0]})"
    return f" (rollback: {len(failures)} compensations failed, the first at {failures[0]})"
