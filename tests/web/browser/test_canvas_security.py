"""Stored scripts in a real browser: a file opened through /view never runs as a page of this server (downloads
for what is not media, images shown under a policy that runs nothing), and the token given as /?token= leaves
the address bar for a cookie, with the canvas working."""
from __future__ import annotations

import pytest
from playwright.sync_api import Error as PlaywrightError

from tests.web.browser.canvas_driver import collect_page_errors
from tests.web.client import call_json
from tests.web.test_security import SCRIPT_FILES, STORED_SCRIPT_TAG, polyglot_png, upload

MARK = "stored-script-ran"


def stored_script_ran(context, server) -> bool:
    """Whether a stored script left its mark in this server's storage, or queued its prompt."""
    marks = [item for origin in context.storage_state()["origins"] if origin["origin"] == server.url
             for item in origin["localStorage"] if item["name"] == MARK]
    queue, history = call_json(server.url + "/queue")[1], call_json(server.url + "/history")[1]
    return bool(marks) or str(STORED_SCRIPT_TAG) in repr(queue) + repr(history)


@pytest.fixture
def browser_context(chromium):
    context = chromium.new_context(accept_downloads=True)
    yield context
    context.close()


@pytest.mark.parametrize("name", ["page.html", "drawing.svg", "page.xhtml", "data.xml", "code.js"])
def test_opening_a_script_file_through_view_downloads_it(browser_context, live_server, name):
    (live_server.base_dir / "input" / name).write_text(SCRIPT_FILES[name])
    page = browser_context.new_page()
    with page.expect_download(timeout=15000) as download:
        try:
            page.goto(f"{live_server.url}/view?filename={name}&type=input")
        except PlaywrightError as error:  # a navigation that turns into a download ends this way
            assert "Download is starting" in str(error)
    assert download.value.suggested_filename == name
    assert not stored_script_ran(browser_context, live_server)


def test_an_uploaded_polyglot_opens_as_an_image_and_runs_nothing(browser_context, live_server):
    status, answer = upload(live_server, {"image": polyglot_png(), "overwrite": "true"}, file_name="cat.html")
    assert status == 200
    page = browser_context.new_page()
    response = page.goto(f"{live_server.url}/view?filename={answer['name']}&type=input")
    assert response.headers["content-type"] == "image/png"
    assert page.evaluate("() => document.contentType") == "image/png"
    assert page.evaluate("() => document.images.length === 1 && document.images[0].naturalWidth") == 8
    assert not stored_script_ran(browser_context, live_server)


def assert_canvas_works(page) -> None:
    """The cookie carries the token: node list, model list and websocket all answer."""
    page.wait_for_function("() => document.querySelector('[data-testid=connection]').textContent === 'connected'",
                           timeout=15000)
    assert page.locator(".node").count() > 0
    page.locator('[data-testid="palette-search"]').fill("KSampler")
    assert page.locator('[data-palette-node="KSampler"]').count() == 1


def test_the_token_moves_from_the_address_bar_into_a_cookie(chromium, own_server):
    token = "browser-token-123"
    server = own_server("--auth-token", token, headers={"Authorization": f"Bearer {token}"})
    context = chromium.new_context()
    try:
        page = context.new_page()
        errors = collect_page_errors(page)
        page.goto(f"{server.url}/?token={token}")
        page.wait_for_selector("body[data-ready=true]", timeout=15000)
        assert page.url == server.url + "/"
        assert_canvas_works(page)
        assert [cookie["name"] for cookie in context.cookies()] == ["latentloom_token"]
        assert token not in "".join(entry for entry in page.evaluate("() => [location.href, document.referrer]"))

        # a link from another site (here a page with an opaque origin): the cookie still reaches the canvas
        other = context.new_page()
        errors += collect_page_errors(other)
        other.set_content(f'<a id="open" href="{server.url}/?token={token}&from=link">open</a>')
        other.click("#open")
        other.wait_for_url(f"{server.url}/?from=link")
        other.wait_for_selector("body[data-ready=true]", timeout=15000)
        assert_canvas_works(other)
        assert not errors
    finally:
        context.close()
