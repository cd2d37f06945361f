"""Session clients for API tests: a logged-in AsyncClient and a JSON POST with it (in-process),
and an httpx client logged in to a real server through its login form, with its CSRF headers."""

import json

from django.test import AsyncClient


async def logged_in(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def post(client, url, body=None):
    return await client.post(url, data=json.dumps(body or {}), content_type="application/json")


async def web_login(base: str, username: str, password: str):
    """An httpx client logged in to the server at ``base`` through its login form."""
    import httpx

    client = httpx.AsyncClient(base_url=base, timeout=20)
    await client.get("/login/")
    answer = await client.post("/login/", data={"username": username, "password": password,
                                                "csrfmiddlewaretoken": client.cookies["csrftoken"]},
                               headers={"Referer": base + "/login/"})
    assert answer.status_code == 302
    return client


def web_headers(client, base: str) -> dict:
    """What a session's unsafe request to a real server carries: its CSRF token and a Referer."""
    return {"X-CSRFToken": client.cookies["csrftoken"], "Referer": base}
