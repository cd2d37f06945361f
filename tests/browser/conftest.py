"""Browser tests: Debian's Chromium driven by pytest-playwright against a real daphne process
that shares the (file-based SQLite) test database. Helpers for logging in and dragging."""

import os
import re
from pathlib import Path

import pytest

from tests.servers import Daphne

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "test-results" / "browser"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Playwright's sync API runs an event loop in this thread; the ORM calls in tests are safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def _is_browser(item) -> bool:
    return Path(str(item.fspath)).resolve().is_relative_to(Path(__file__).parent)


def pytest_collection_modifyitems(config, items):
    # browser tests last: Playwright's session objects then never share a thread with async tests
    items.sort(key=_is_browser)
    if Path(CHROMIUM).exists() or not any(_is_browser(i) for i in items):
        return
    if os.environ.get("REQUIRE_SERVICES") or os.environ.get("CI"):
        raise pytest.UsageError(f"the browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)")
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}")
    for item in items:
        if _is_browser(item):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": FLAGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 900}}


@pytest.fixture(scope="session")
def server(django_db_setup, django_db_blocker, tmp_path_factory):
    """The app under test, in its own daphne process, on the test database."""
    from django.conf import settings

    env = {**os.environ, "SQLITE_PATH": str(settings.DATABASES["default"]["NAME"]), "DJANGO_DEBUG": "0",
           "WORKFLOW_PYTHON_ALLOWED": "engine.functions.*,examples.functions.*,tests.browser.functions.*",
           # the restart test's own servers take over its run: this one keeps out of it
           "WORKFLOW_RECOVER_ON_START": "0"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    daphne = Daphne(env).require_started()
    yield daphne
    daphne.stop()


@pytest.fixture
def shot(page, request):
    """Save a screenshot of the page under test-results/browser/<test>-<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str = "end") -> Path:
        path = SHOTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take


def login(page, server, username: str, password: str) -> None:
    """Log in through the login form, as a person does."""
    page.goto(f"{server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("form [type=submit]")
    page.wait_for_url(f"{server.url}/")


def ghost_inside(page, target, where: str = "any") -> bool:
    """Is SortableJS's ghost (the placeholder of the dragged step) in the target list (at its end)?"""
    return target.evaluate("""(t, where) => {
        const g = document.querySelector('.drop-ghost');
        if (!g || !t.contains(g)) return false;
        if (g.parentElement !== t || where === 'any') return true;
        return where === 'end' ? g === t.lastElementChild : g === t.firstElementChild;
    }""", where)


def settled(page, target, where: str) -> bool:
    """SortableJS re-checks the pointer every 50 ms: the ghost must stay put for a quarter second."""
    for _ in range(5):
        if not ghost_inside(page, target, where):
            return False
        page.wait_for_timeout(50)
    return ghost_inside(page, target, where)


def drag(page, source, target, *, where: str = "end") -> None:  # where: "end" or "start" of the list
    """Drag with SortableJS: press, move in steps, re-aim until its ghost is inside the target
    list, then release (Playwright's drag_to is not reliable with SortableJS)."""
    source.scroll_into_view_if_needed()
    box = source.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 8, y + 8, steps=4)
    for attempt in range(80):
        t = target.bounding_box()
        ty = t["y"] + (t["height"] - 4 if where == "end" else 4) if t["height"] > 14 else t["y"] + t["height"] / 2
        if attempt >= 20 and t["height"] > 14:
            # the list grows when the ghost enters it, and can move out from under the pointer:
            # aim at other heights in it too, nearer its middle each round
            ty = t["y"] + t["height"] * (0.5, 0.75, 0.25)[attempt % 3]
        tx = t["x"] + t["width"] / 2 + (attempt % 3 - 1) * 4
        page.mouse.move(tx, ty, steps=6)
        page.wait_for_timeout(60)
        if settled(page, target, where):
            break
    else:
        page.mouse.up()
        raise AssertionError("the drag never reached its target")
    page.mouse.up()
    page.wait_for_timeout(100)


def login_as(page, server, user) -> None:
    """Log a user in by giving the browser a session cookie (faster than the form)."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": server.url}])


def yaml_text(page) -> str:
    """The text in the CodeMirror pane (every line is drawn for workflows this small)."""
    return page.evaluate("[...document.querySelectorAll('.cm-content .cm-line')].map(l => l.textContent).join('\\n')")


def replace_yaml(page, text: str) -> None:
    """Select all in the YAML pane and put `text` there, as a paste does."""
    page.click(".cm-content")
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)


@pytest.fixture(autouse=True)
def page_errors(request):
    """Fail a test whose page threw an uncaught error (printed with the console's last lines)
    or asked for anything but the server under test: the pages work with vendored files alone."""
    if "page" not in request.fixturenames:
        yield []
        return
    page = request.getfixturevalue("page")
    errors, console, elsewhere = [], [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("request", lambda r: None if re.match(r"(https?|wss?)://127\.0\.0\.1:\d+/|(data|blob|about):", r.url)
            else elsewhere.append(r.url))
    yield errors
    assert not errors, f"uncaught errors in the page: {errors}\nconsole: {console[-20:]}"
    assert not elsewhere, f"requests that left the machine: {elsewhere}"
