"""Helpers for tests that run workflows through the server's code."""

import asyncio
import time

from builder.models import Run


async def finished(run_id: int, timeout: float = 10.0) -> Run:
    """Wait until a run has finished (or fail the test after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = await Run.objects.aget(pk=run_id)
        if run.finished:
            from builder import execution

            await asyncio.gather(*list(execution._TASKS), return_exceptions=True)
            return await Run.objects.aget(pk=run_id)
        await asyncio.sleep(0.02)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")
