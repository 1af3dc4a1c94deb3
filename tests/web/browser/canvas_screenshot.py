"""Saves docs/canvas.png: the default graph after a run, for the README.

Run: .venv/bin/python tests/web/browser/canvas_screenshot.py [--url http://127.0.0.1:8188] [--out docs/canvas.png]
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


def capture(url: str, out: Path, size: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        canvas = CanvasDriver(page, url)
        canvas.open(fresh=True)
        ids = canvas.shrink_default_graph(size=size, steps=4)
        canvas.click_action("queue")
        canvas.wait_output_image(ids["SaveImage"])
        page.keyboard.press(".")  # fit the graph, image included, into view
        page.wait_for_timeout(300)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server; by default one is started")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "canvas.png")
    parser.add_argument("--size", type=int, default=128, help="image width and height")
    args = parser.parse_args()
    if args.url:
        capture(args.url, args.out, args.size)
        return
    from tests.web.conftest import prepare_base, start_server

    with tempfile.TemporaryDirectory() as base:
        server = start_server(prepare_base(Path(base)))
        try:
            capture(server.url, args.out, args.size)
        finally:
            server.stop()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
