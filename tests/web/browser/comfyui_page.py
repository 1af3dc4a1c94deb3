"""ComfyUI's own frontend (the comfyui-frontend-package, unchanged) in a real browser against our server: opening
it, reading what it shows through its public `app` and `api` objects, and listening to the events it parses."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.web.conftest import REPO

OLD_VERSION_ROOT = REPO / ".venv" / "frontends" / "comfyui-1.35.9" / "comfyui_frontend_package" / "static"
GRAPH_READY = "() => window.app?.graph?._nodes?.length > 0"
# records the websocket events the frontend parsed from our messages, under window.__seen
LISTEN = """() => {
  window.__seen = {progress_state: [], preview: [], executing: []};
  const api = window.comfyAPI.api.api;
  api.addEventListener('progress_state', (e) => window.__seen.progress_state.push(e.detail));
  api.addEventListener('b_preview_with_metadata', (e) => window.__seen.preview.push(
    {nodeId: e.detail.nodeId, jobId: e.detail.jobId ?? e.detail.promptId,  // 1.35.9 names it promptId
     type: e.detail.blob.type, size: e.detail.blob.size}));
  api.addEventListener('executing', (e) => window.__seen.executing.push(e.detail));
}"""


@dataclass
class ComfyPage:
    """One tab of the frontend, with what went wrong on it: page errors and server answers of 500 or more."""

    page: object
    url: str
    page_errors: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)

    def open(self) -> None:
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.on("response", lambda reply: reply.status >= 500 and self.server_errors.append(
            f"{reply.status} {reply.url}"))
        self.page.goto(self.url)
        self.wait_for_graph()

    def wait_for_graph(self) -> None:
        self.page.wait_for_function(GRAPH_READY, timeout=60000)

    def reload(self) -> None:
        self.page.reload()
        self.wait_for_graph()

    def node_types(self) -> list[str]:
        return self.page.evaluate("() => window.app.graph._nodes.map((n) => n.type).sort()")

    def widget(self, node_type: str, name: str):
        return self.page.evaluate("([t, name]) => window.app.graph._nodes.find((n) => n.type === t)"
                                  ".widgets.find((w) => w.name === name).value", [node_type, name])

    def set_widget(self, node_type: str, name: str, value) -> None:
        self.page.evaluate("([t, name, value]) => { window.app.graph._nodes.find((n) => n.type === t)"
                           ".widgets.find((w) => w.name === name).value = value; }", [node_type, name, value])

    def shrink_run(self, size: int = 64, steps: int = 3) -> None:
        """The default workflow, small and quick on the demo model."""
        self.set_widget("EmptyLatentImage", "width", size)
        self.set_widget("EmptyLatentImage", "height", size)
        self.set_widget("KSampler", "steps", steps)

    def listen(self) -> None:
        self.page.evaluate(LISTEN)

    def seen(self) -> dict:
        return self.page.evaluate("() => window.__seen")

    def run(self) -> None:
        """Presses Run, as a user does."""
        self.page.get_by_role("button", name="Run").first.click()

    def saved_images(self, timeout: float = 120) -> list[str]:
        """The image URLs on the Save Image node once the run shows them."""
        self.page.wait_for_function("() => window.app.graph._nodes.find((n) => n.type === 'SaveImage')"
                                    ".imgs?.length > 0", timeout=timeout * 1000)
        return self.page.evaluate("() => window.app.graph._nodes.find((n) => n.type === 'SaveImage')"
                                  ".imgs.map((i) => i.src)")

    def setting(self, name: str):
        return self.page.evaluate("(name) => window.app.extensionManager.setting.get(name)", name)

    def set_setting(self, name: str, value) -> None:
        self.page.evaluate("([name, value]) => window.app.extensionManager.setting.set(name, value)", [name, value])

    def text(self) -> str:
        return self.page.locator("body").inner_text()

    def wait_for_text(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text.lower() not in self.text().lower():
            assert time.monotonic() < deadline, f"the page did not show {text!r} within {timeout} s"
            self.page.wait_for_timeout(100)


def old_version_root() -> Path | None:
    """1.35.9, put beside the test extra's newer version by scripts/frontends.sh."""
    return OLD_VERSION_ROOT if (OLD_VERSION_ROOT / "index.html").is_file() else None
