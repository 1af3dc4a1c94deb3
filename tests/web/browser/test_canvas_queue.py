"""Running state on the canvas: progress, the queue view, interrupt and execution errors."""

import pytest

from tests.web.client import call


@pytest.fixture
def idle_after(live_server):
    """Leaves the shared server idle even when a test fails midway, so that the next test's prompt is not stuck
    behind a long sleep."""
    yield
    call(f"{live_server.url}/queue", "POST", {"clear": True})
    call(f"{live_server.url}/interrupt", "POST", {})


def test_progress_queue_view_delete_and_interrupt(canvas, idle_after):
    canvas.click_action("clear")
    sleep = canvas.add_node("TestSleep")
    canvas.set_widget(sleep, "seconds", 60)
    canvas.click_action("queue")

    # The running node is highlighted and shows a progress bar.
    canvas.page.wait_for_selector(f'.node[data-node-id="{sleep}"].running [data-progress].active', timeout=15000)
    # The queue view follows from its own request, which may answer after the node's event.
    canvas.page.wait_for_function("() => document.querySelectorAll('[data-testid=queue-running] li').length === 1",
                                  timeout=15000)

    # A second prompt waits in the queue view and can be deleted there.
    canvas.set_widget(sleep, "tag", 1)
    canvas.click_action("queue")
    pending = canvas.page.locator('[data-testid="queue-pending"] li')
    pending.first.wait_for(timeout=15000)
    assert pending.count() == 1
    pending.first.locator("[data-queue-delete]").click()
    canvas.page.wait_for_function("() => document.querySelectorAll('[data-testid=queue-pending] li').length === 0", timeout=15000)

    canvas.click_action("interrupt")
    canvas.page.wait_for_function("() => !document.querySelector('.node.running')", timeout=15000)
    canvas.page.wait_for_function("() => document.querySelectorAll('[data-testid=queue-running] li').length === 0", timeout=15000)


def test_execution_error_is_shown_on_node(canvas, idle_after):
    canvas.click_action("clear")
    fail = canvas.add_node("TestFail")
    canvas.set_widget(fail, "message", "kaboom from the test")
    canvas.click_action("queue")
    canvas.page.wait_for_selector(f'.node[data-node-id="{fail}"].has-error', timeout=15000)
    assert "kaboom from the test" in canvas.node(fail).locator("[data-node-error]").inner_text()
    assert "kaboom from the test" in canvas.message()
