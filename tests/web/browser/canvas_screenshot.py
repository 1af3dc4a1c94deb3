"""Saves docs/canvas.png: the default graph after a run, for the README (with --comfyui, ComfyUI's own frontend on
our server after a run, docs/comfyui-frontend.png).

Run: .venv/bin/python tests/web/browser/canvas_screenshot.py [--comfyui] [--url http://127.0.0.1:8188] [--out FILE]
Without --url it starts `latentloom serve` on a temporary base folder with the demo checkpoint.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from tests.web.browser.canvas_driver import CHROMIUM, CHROMIUM_ARGS, CanvasDriver  # noqa: E402
from tests.web.browser.comfyui_page import ComfyPage  # noqa: E402


def run_on_canvas(page, url: str, size: int) -> None:
    canvas = CanvasDriver(page, url)
    canvas.open(fresh=True)
    ids = canvas.shrink_default_graph(size=size, steps=4)
    canvas.click_action("queue")
    canvas.wait_output_image(ids["SaveImage"])
    page.keyboard.press(".")  # fit the graph, image included, into view


def run_on_comfyui(page, url: str, size: int) -> None:
    comfy = ComfyPage(page, url + "/")
    comfy.open()
    comfy.shrink_run(size=size, steps=4)
    comfy.run()
    comfy.saved_images()
    page.get_by_role("button", name="Expand job queue").click()  # the run in its job queue


def capture(url: str, out: Path, size: int, comfyui: bool) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        (run_on_comfyui if comfyui else run_on_canvas)(page, url.rstrip("/"), size)
        page.wait_for_timeout(300)  # the last frame drawn
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server; by default one is started")
    parser.add_argument("--comfyui", action="store_true", help="ComfyUI's frontend (serve --front-end comfyui)")
    parser.add_argument("--out", type=Path, help="default: docs/canvas.png, or docs/comfyui-frontend.png")
    parser.add_argument("--size", type=int, default=128, help="image width and height")
    args = parser.parse_args()
    out = args.out or REPO / "docs" / ("comfyui-frontend.png" if args.comfyui else "canvas.png")
    if args.url:
        capture(args.url, out, args.size, args.comfyui)
        return
    from tests.web.conftest import prepare_base, start_server

    with tempfile.TemporaryDirectory() as base:
        server = start_server(prepare_base(Path(base)), *(["--front-end", "comfyui"] if args.comfyui else []))
        try:
            capture(server.url, out, args.size, args.comfyui)
        finally:
            server.stop()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
