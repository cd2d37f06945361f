"""Engine settings: what the host (CLI, Django, a worker) tells the engine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .budgets import Budgets


@dataclass(frozen=True)
class EngineSettings:
    """Knobs and allowlists; the builder fills them from Django settings."""

    #: what ``python`` steps may call: ``MODULE`` or ``MODULE:FUNCTION`` glob patterns
    #: (fnmatch; see engine/actions/python.py for the rules every name must also pass)
    python_allowed: tuple[str, ...] = ("engine.functions.*",)
    #: threads for sync action code (one pool shared by every run in the process)
    threads: int = 32
    #: worker processes for ``python`` steps' plain functions (one pool shared by every run;
    #: a timeout or cancel kills the call's process); default: one per core
    python_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    #: start the ``python`` pool as soon as a workflow that calls it is validated (a run is likely
    #: to follow); off where runs never execute (the celery mode's web processes)
    warm_pool: bool = True
    #: how deep ``workflow`` steps may nest
    workflow_depth: int = 5
    #: seconds a cancelled (or timed-out) run or block still gets for its ``finally`` steps
    finally_grace: float = 30.0
    #: what one run may spend (steps, foreach items, output bytes, sub-runs)
    budgets: Budgets = field(default_factory=Budgets)
    #: extra, action-specific configuration (connections, endpoints, ...)
    extra: dict = field(default_factory=dict)
