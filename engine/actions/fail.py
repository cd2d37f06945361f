"""``fail``: stop with a message (a deliberate abort; never retried)."""

from __future__ import annotations

from pydantic import Field

from ..errors import ActionError
from .base import Action, Params


class FailParams(Params):
    message: str = Field(description="Why the workflow stops here")


class Fail(Action):
    name = "fail"
    title = "Fail"
    description = "Fail the step with a message."
    category = "Flow"
    Params = FailParams

    async def run(self, params: FailParams, ctx) -> None:
        raise ActionError(params.message, retryable=False)
