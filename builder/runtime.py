"""How the builder configures the engine from Django settings."""

from django.conf import settings

from engine import EngineSettings, default_registry


def engine_settings() -> EngineSettings:
    """EngineSettings from Django settings."""
    return EngineSettings(
        python_allowed=tuple(settings.WORKFLOW_PYTHON_ALLOWED),
        threads=settings.WORKFLOW_THREADS,
        workflow_depth=settings.WORKFLOW_DEPTH,
    )


def registry():
    """The action registry the builder runs with."""
    return default_registry()
