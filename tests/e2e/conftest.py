"""Browser tests: Playwright drives Debian's Chromium against Django's live test server.

The sandbox answers the app's sends from the same live server, and the tests' task backend
(Immediate) runs a confirmed send as soon as it is queued.
"""

import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command

# Playwright's sync API runs an event loop in this thread; the ORM must still be usable here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium).")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}}


@pytest.fixture
def app(live_server, settings, transactional_db):
    """The live app in sandbox mode, sending to its own sandbox, with the demo catalog."""
    settings.KALEYRA_MODE = "sandbox"
    settings.KALEYRA_SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    settings.KALEYRA_RATE_PER_SECOND = 0
    settings.SITE_URL = live_server.url  # the demo products' pictures come from the live server
    # The scenario checks what Kaleyra answered; delivery callbacks would move the states on.
    settings.MPM_SANDBOX_CALLBACKS = False
    call_command("demo", stdout=io.StringIO())
    return live_server


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def no_csp_violations(request):
    """Every browser test fails if the Content-Security-Policy refused anything on its pages
    (an inline script or style, a foreign source)."""
    if "page" not in request.fixturenames:
        yield
        return
    page = request.getfixturevalue("page")
    violations: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    yield
    assert violations == [], violations
