"""What the skills admin's browser tests share: a server of their own for admin saves, and
screenshots at the three widths."""

import os

import pytest

from tests.servers import Daphne

WIDTHS = (1024, 1280, 1920)


@pytest.fixture
def admin_server(server):
    """A daphne of this test's own, for tests that save in the admin's change form: the admin
    logs each save with its ContentType, whose id the session's server caches, and every
    test's flush makes the content types again under new ids (a FOREIGN KEY error there)."""
    from django.conf import settings

    env = {**os.environ, "SQLITE_PATH": str(settings.DATABASES["default"]["NAME"]), "DJANGO_DEBUG": "0",
           "WORKFLOW_PYTHON_ALLOWED": "engine.functions.*", "WORKFLOW_RECOVER_ON_START": "0"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    fresh = Daphne(env).require_started()
    yield fresh
    fresh.stop()


def shots(page, shot, name: str) -> None:
    """Screenshots of the page at 1024, 1280 and 1920 px wide (then back to the default size)."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        shot(f"{name}-{width}")
    page.set_viewport_size({"width": 1400, "height": 900})
