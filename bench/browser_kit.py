"""What the browser benchmarks share: a logged-in API client and a Chromium context with the
same session, its probe script installed (bench/browser.py, bench/browser_editor.py)."""

from __future__ import annotations

import os


def log_in(client) -> dict:
    """Log the bench user in on ``client`` (httpx, base_url set); the headers of a JSON write."""
    client.get("/login/")
    client.post("/login/", data={"username": "bench", "password": "bench-password",
                                 "csrfmiddlewaretoken": client.cookies["csrftoken"]},
                headers={"Referer": str(client.base_url).rstrip("/") + "/login/"})
    return {"X-CSRFToken": client.cookies["csrftoken"], "Referer": str(client.base_url).rstrip("/")}


def browser_context(p, client, flags: list[str], probe: str):
    """Debian's Chromium (``CHROMIUM`` to change) at 1400×900, logged in as ``client`` is, with
    ``probe`` run in every page; a first page warms fonts, modules and the first request."""
    base = str(client.base_url).rstrip("/")
    browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=flags)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"], "url": base}])
    context.add_init_script(probe)
    return browser, context
