"""Fixtures of the browser tests (issue 8): one headless Chromium per session, a fresh browser
context per test, and a real server per test.

The browser is Debian's ``chromium`` at /usr/bin/chromium (``make test`` installs it when missing).
Without it these tests fail loudly: they are never skipped. Screenshots go to build/screenshots/
(ignored by git) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from web_support import CONFIG, Server, start_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
#: How long an expectation waits for the page (Playwright's default is 5 s).
TIMEOUT_MS = 5000


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One Chromium for the whole session (contexts keep the tests apart)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A fresh server per test over its own SQLite file."""
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    started = start_server(tmp_path / "web.db", config)
    yield started
    started.stop()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[[], Page]]:
    """Open pages, each in its own context (its own sessionStorage: a separate person)."""
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """``shot(page, "name")`` saves build/screenshots/<test>--<name>.png."""
    test = re.sub(r"[^\w-]+", "_", request.node.name)

    def take(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{test}--{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
