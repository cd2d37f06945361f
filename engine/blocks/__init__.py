"""Blocks: one module per kind (parallel, foreach, switch, repeat, step lists), the block's
life in ``block.py``, failure policy in ``common.py``, rollback in ``compensation.py`` and
``on_failure``/``finally`` in ``hooks.py``.

Every block is bounded: parallel branches are the document's own (static) list, foreach
items are pulled by at most ``concurrency`` workers — items are never all tasks at once.
"""

from .block import SKIPPED, run_block
from .common import told
from .compensation import LEDGER, Ledger, remember, rollback, rollback_note
from .hooks import finally_after_cancel, origin, run_hooks
from .lists import run_dag, run_sequence

__all__ = ["LEDGER", "SKIPPED", "Ledger", "finally_after_cancel", "origin", "remember", "rollback", "rollback_note",
           "run_block", "run_dag", "run_hooks", "run_sequence", "told"]
