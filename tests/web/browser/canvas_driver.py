"""Drives the web canvas in a real browser the way a user would: clicks, drags and keys."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DEMO_CHECKPOINT = "latentloom-demo-sd1-random-weights.safetensors"


class CanvasDriver:
    """A page of the canvas plus the gestures the tests need."""

    def __init__(self, page, url: str):
        self.page = page
        self.url = url.rstrip("/")

    # ---- page ---------------------------------------------------------------

    def open(self, fresh: bool = True) -> None:
        """Loads the page; fresh forgets the stored workflow so the default graph appears."""
        self.page.goto(self.url + "/")
        if fresh:
            self.page.evaluate("localStorage.clear()")
            self.page.reload()
        self.wait_until_ready()

    def reload(self) -> None:
        self.page.reload()
        self.wait_until_ready()

    def wait_until_ready(self) -> None:
        """The page is built and its websocket is open: a prompt queued before the socket opens runs with no client
        to send its progress and previews to, and a quick run can end before the socket is up."""
        self.page.wait_for_selector("body[data-ready=true]", timeout=15000)
        self.page.wait_for_selector('[data-testid="connection"][data-state="connected"]', timeout=15000)

    def click_action(self, name: str) -> None:
        self.page.click(f'[data-action="{name}"]')

    def save(self, name: str | None = None):
        """Presses Save, answers its name dialog (keeps the offered name unless `name` is given); returns the
        download."""
        with self.page.expect_download() as download_info:
            self.click_action("save")
            if name is not None:
                self.page.fill('[data-testid="dialog-input"]', name)
            self.page.click('[data-testid="dialog-ok"]')
        return download_info.value

    def message(self) -> str:
        return self.page.locator('[data-testid="message"]').inner_text()

    # ---- nodes --------------------------------------------------------------

    def node(self, node_id):
        return self.page.locator(f'.node[data-node-id="{node_id}"]')

    def node_ids(self, node_type: str | None = None) -> list[int]:
        selector = ".node" if node_type is None else f'.node[data-node-type="{node_type}"]'
        return [int(x) for x in self.page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.nodeId)")]

    def link_count(self) -> int:
        return self.page.locator("svg.links path.link").count()

    def add_node(self, node_type: str) -> int:
        """Searches the palette and clicks the entry; returns the new node's id."""
        before = set(self.node_ids())
        search = self.page.locator('[data-testid="palette-search"]')
        search.fill(node_type)
        self.page.click(f'[data-palette-node="{node_type}"]')
        added = set(self.node_ids()) - before
        assert len(added) == 1, f"adding {node_type} made {len(added)} nodes"
        return added.pop()

    def canvas_box(self) -> dict:
        return self.page.locator('[data-testid="canvas"]').bounding_box()

    def place(self, node_id, x: float, y: float) -> dict:
        """Drags a node by its title so its top left lands at (x, y) inside the canvas."""
        title = self.node(node_id).locator(".node-title").bounding_box()
        canvas = self.canvas_box()
        mouse = self.page.mouse
        mouse.move(title["x"] + 10, title["y"] + 6)
        mouse.down()
        mouse.move(canvas["x"] + x + 10, canvas["y"] + y + 6, steps=6)
        mouse.up()
        return self.node(node_id).bounding_box()

    def _center(self, locator) -> tuple[float, float]:
        box = locator.bounding_box()
        assert box, "socket is not visible"
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def output_socket(self, node_id, slot: int):
        return self.node(node_id).locator(f'[data-output="{slot}"] .socket')

    def input_socket(self, node_id, name: str):
        return self.node(node_id).locator(f'[data-input="{name}"] .socket')

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        mouse = self.page.mouse
        mouse.move(*start)
        mouse.down()
        mouse.move(*end, steps=8)
        mouse.up()

    def connect(self, from_id, slot: int, to_id, input_name: str) -> None:
        """Drags from an output socket to an input socket."""
        self.drag(self._center(self.output_socket(from_id, slot)), self._center(self.input_socket(to_id, input_name)))

    def widget(self, node_id, name: str):
        return self.node(node_id).locator(f'.widget[data-widget="{name}"]').locator("input, select, textarea").first

    def set_widget(self, node_id, name: str, value) -> None:
        control = self.widget(node_id, name)
        tag = control.evaluate("e => e.tagName")
        if tag == "SELECT":
            control.select_option(str(value))
        else:
            control.fill(str(value))
            control.press("Tab")  # commits the value, as leaving a field does

    def wait_output_image(self, node_id, not_src: str | None = None, timeout: float = 60000) -> str:
        """Waits for an <img> from /api/view on a node that has loaded; returns its src."""
        selector = f'.node[data-node-id="{node_id}"] img[data-output-image]'
        self.page.wait_for_function(
            """([sel, old]) => { const img = document.querySelector(sel);
                 return img && img.complete && img.naturalWidth > 0 && img.getAttribute('src') !== old; }""",
            arg=[selector, not_src],
            timeout=timeout,
        )
        return self.page.locator(selector).first.get_attribute("src")

    def build_default_graph_by_hand(self, checkpoint: str = DEMO_CHECKPOINT, size: int = 64, steps: int = 2) -> dict:
        """Clears the canvas and builds text-to-image from the palette; returns node ids by role."""
        self.click_action("clear")
        assert self.node_ids() == []
        columns = [
            [("ckpt", "CheckpointLoaderSimple")],
            [("pos", "CLIPTextEncode"), ("neg", "CLIPTextEncode"), ("latent", "EmptyLatentImage")],
            [("sampler", "KSampler")],
            [("decode", "VAEDecode"), ("save", "SaveImage")],
        ]
        ids = {}
        canvas = self.canvas_box()
        x = 10
        for column in columns:
            # Each node is dragged into its column as soon as it is added, so columns never overlap.
            y, right = 10, x
            for role, node_type in column:
                ids[role] = self.add_node(node_type)
                box = self.place(ids[role], x, y)
                y = box["y"] + box["height"] - canvas["y"] + 20
                right = max(right, box["x"] + box["width"] - canvas["x"])
            x = right + 40
        self.connect(ids["ckpt"], 0, ids["sampler"], "model")
        self.connect(ids["ckpt"], 1, ids["pos"], "clip")
        self.connect(ids["ckpt"], 1, ids["neg"], "clip")
        self.connect(ids["pos"], 0, ids["sampler"], "positive")
        self.connect(ids["neg"], 0, ids["sampler"], "negative")
        self.connect(ids["latent"], 0, ids["sampler"], "latent_image")
        self.connect(ids["sampler"], 0, ids["decode"], "samples")
        self.connect(ids["ckpt"], 2, ids["decode"], "vae")
        self.connect(ids["decode"], 0, ids["save"], "images")
        self.set_widget(ids["ckpt"], "ckpt_name", checkpoint)
        self.set_widget(ids["pos"], "text", "a glass bottle on a beach")
        self.set_widget(ids["neg"], "text", "blurry")
        self.set_widget(ids["latent"], "width", size)
        self.set_widget(ids["latent"], "height", size)
        self.set_widget(ids["sampler"], "steps", steps)
        return ids

    def shrink_default_graph(self, size: int = 64, steps: int = 2) -> dict:
        """Makes the default graph quick to run; returns node ids by type."""
        ids = {t: self.node_ids(t)[0] for t in ["CheckpointLoaderSimple", "EmptyLatentImage", "KSampler", "SaveImage"]}
        self.set_widget(ids["CheckpointLoaderSimple"], "ckpt_name", DEMO_CHECKPOINT)
        self.set_widget(ids["EmptyLatentImage"], "width", size)
        self.set_widget(ids["EmptyLatentImage"], "height", size)
        self.set_widget(ids["KSampler"], "steps", steps)
        return ids


def collect_page_errors(page) -> list[str]:
    """JavaScript errors and Content-Security-Policy refusals on `page` (the canvas must need nothing its policy
    forbids), as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)
    return errors


def open_canvas(chromium, server) -> tuple:
    """A fresh page of the canvas on `server` with the default graph; returns (browser context, driver).
    JavaScript errors and CSP refusals on the page are collected in driver.page_errors."""
    context = chromium.new_context(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    errors = collect_page_errors(page)
    driver = CanvasDriver(page, server.url)
    driver.page_errors = errors
    driver.open(fresh=True)
    return context, driver


def drop_file(canvas, name: str, mime: str, data: bytes, target=None, at: tuple[float, float] = (50, 50)) -> None:
    """Drops a file on the canvas (or on the element `target`, a locator) as the browser does when one is dragged
    in from the desktop; `at` is the point inside the canvas the events name."""
    transfer = canvas.page.evaluate_handle(
        """([name, mime, bytes]) => {
             const dt = new DataTransfer();
             dt.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
             return dt; }""",
        [name, mime, list(data)],
    )
    target = target or canvas.page.locator('[data-testid="canvas"]')
    box = canvas.canvas_box()
    for event in ("dragenter", "dragover", "drop"):
        target.dispatch_event(event, {"dataTransfer": transfer, "clientX": box["x"] + at[0], "clientY": box["y"] + at[1]})
