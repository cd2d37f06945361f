"""Session clients for API tests: a logged-in AsyncClient, and a JSON POST with it."""

import json

from django.test import AsyncClient


async def logged_in(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def post(client, url, body=None):
    return await client.post(url, data=json.dumps(body or {}), content_type="application/json")
