"""``wait``: sleep, then return ``value``."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from ..spec import Duration
from .base import Action, Params


class WaitParams(Params):
    seconds: Duration = Field(description="How long to wait: seconds, or 250ms, 10s, 2m, 1h")
    value: Any = Field(default=None, description="What the step returns")


class Wait(Action):
    name = "wait"
    title = "Wait"
    description = "Wait for a while, then return a value."
    category = "Flow"
    eager = True  # plain awaits of futures only: see Action.eager
    Params = WaitParams

    async def run(self, params: WaitParams, ctx) -> Any:
        if params.seconds > 0:
            await asyncio.sleep(params.seconds)
        return params.value
