"""Browser fixtures for the canvas tests: one Chromium per session, a fresh page per test."""

import pytest

from tests.web.browser.canvas_driver import CHROMIUM, CHROMIUM_ARGS, CanvasDriver


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed; the canvas browser tests need Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def canvas(chromium, live_server):
    """A canvas page on the live server, opened fresh with the default graph."""
    context = chromium.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    driver = CanvasDriver(page, live_server.url)
    driver.page_errors = errors
    driver.open(fresh=True)
    yield driver
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
