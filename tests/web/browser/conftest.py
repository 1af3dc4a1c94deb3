"""Browser fixtures for the canvas tests: one Chromium per session, a fresh page per test."""

import pytest

from tests.web.browser.canvas_driver import CHROMIUM, CHROMIUM_ARGS, open_canvas


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
    context, driver = open_canvas(chromium, live_server)
    yield driver
    context.close()
    assert not driver.page_errors, f"JavaScript errors on the page: {driver.page_errors}"
