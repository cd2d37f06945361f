"""Python functions the browser tests' workflows call (allowed for the test server only)."""

from pathlib import Path


def fail_unless_exists(path: str) -> str:
    """Fail until the file exists: a run that fails, then succeeds when resumed."""
    if not Path(path).exists():
        raise RuntimeError(f"{path} is not there yet")
    return "found"
