"""Engine settings: what the host (CLI, Django, a worker) tells the engine."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EngineSettings:
    """Knobs and allowlists; the builder fills them from Django settings."""

    #: dotted ``module:function`` patterns (fnmatch) that ``python`` steps may call
    python_allowed: tuple[str, ...] = ("engine.functions.*",)
    #: threads for sync action code
    threads: int = 32
    #: how deep ``workflow`` steps may nest
    workflow_depth: int = 5
    #: extra, action-specific configuration (connections, endpoints, ...)
    extra: dict = field(default_factory=dict)
