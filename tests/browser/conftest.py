"""Real headless Chromium (Debian's, driven by Playwright) against a live server on the test database.

Screenshots of every page a scenario visits land in ``artifacts/screenshots/`` (CI keeps them).
Without Chromium the browser tests are skipped locally, and fail under ``REQUIRE_SERVICES=1``.
"""

import os
import re
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
REQUIRE = os.environ.get("REQUIRE_SERVICES", "") in {"1", "true", "yes"}

# Playwright's synchronous API keeps an event loop on this thread; the tests' own ORM calls are
# still plain synchronous code, which Django would otherwise refuse next to a running loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium chromium-driver)"
        if REQUIRE:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Browser:
    """One signed-out browser session with a screenshot helper."""

    def __init__(self, context, base_url: str, prefix: str):
        self.context = context
        self.page = context.new_page()
        self.base_url = base_url
        self.prefix = prefix

    def go(self, path: str):
        self.page.goto(self.base_url + path)
        return self.page

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.prefix}-{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def open_browser(chromium, live_server, request):
    """``open_browser(width=1280, locale="en-GB", journey=None)`` gives a new, separate browser session.

    Its screenshots are named ``<journey>-<step>.png``; the journey defaults to the test's name.
    """
    contexts = []

    def factory(*, width: int = 1280, height: int = 900, locale: str = "en-GB", journey: str | None = None) -> Browser:
        context = chromium.new_context(viewport={"width": width, "height": height}, locale=locale)
        contexts.append(context)
        return Browser(context, live_server.url, journey or request.node.name.removeprefix("test_")[:40])

    yield factory
    for context in contexts:
        context.close()
