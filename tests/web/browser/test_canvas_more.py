"""More canvas features: live previews, drag-and-drop loading, model list refresh, pan/zoom, and no
network beyond the server."""

import json
import shutil
from urllib.parse import parse_qs, urlparse

from tests.fixtures.tiny_checkpoints import write_kohya_lora
from tests.web.browser.canvas_driver import DEMO_CHECKPOINT, CanvasDriver, drop_file, open_canvas


def output_file(server, src):
    query = parse_qs(urlparse(src).query)
    return server.base_dir / "output" / query.get("subfolder", [""])[0] / query["filename"][0]


def empty_point(canvas) -> tuple[float, float]:
    """A point of the canvas with no node, socket or link under it."""
    point = canvas.page.evaluate(
        """() => { const r = document.querySelector('[data-testid="canvas"]').getBoundingClientRect();
             for (let y = r.top + 20; y < r.bottom - 20; y += 15)
               for (let x = r.left + 20; x < r.right - 20; x += 15) {
                 const el = document.elementFromPoint(x, y);
                 if (el && !el.closest('.node') && !el.closest('path')
                     && el.closest('[data-testid="canvas"]')) return [x, y]; }
             return null; }"""
    )
    assert point, "no empty spot on the canvas"
    return tuple(point)


# ---- 1. live latent preview ---------------------------------------------------------------------------


def test_live_preview_shows_on_running_sampler(canvas, live_server):
    ids = canvas.shrink_default_graph(size=128, steps=20)
    sampler = ids["KSampler"]
    selector = f'.node[data-node-id="{sampler}"] img[data-preview]'
    assert canvas.page.locator(selector).get_attribute("src") is None

    canvas.click_action("queue")
    # Caught while the sampler runs: the image is shown and holds a preview frame from the socket.
    canvas.page.wait_for_function(
        """sel => { const img = document.querySelector(sel);
             return img && (img.getAttribute('src') || '').startsWith('blob:')
                    && getComputedStyle(img).display !== 'none'; }""",
        arg=selector, polling="raf", timeout=60000,
    )
    src = canvas.page.locator(selector).get_attribute("src")
    natural = canvas.page.wait_for_function(
        "sel => { const img = document.querySelector(sel); return img && img.complete && img.naturalWidth; }",
        arg=selector, timeout=10000,
    ).json_value()
    assert natural > 0, "the preview frame is not a decodable image"
    assert src.startswith("blob:")

    # The run finishes: the final image arrives and the preview goes away.
    canvas.wait_output_image(ids["SaveImage"])
    canvas.page.wait_for_function(
        "sel => !document.querySelector(sel).getAttribute('src')", arg=selector, timeout=10000)


def test_page_asks_socket_for_previews(canvas):
    # A page opened afresh: the websocket it opens must ask for preview frames.
    urls = []
    canvas.page.on("websocket", lambda ws: urls.append(ws.url))
    canvas.reload()
    canvas.page.wait_for_selector('[data-testid="connection"][data-state="connected"]', timeout=15000)
    assert urls, "the page opened no websocket"
    query = parse_qs(urlparse(urls[-1]).query)
    assert query.get("previews") == ["1"] and query.get("clientId")


# ---- 2. drag-and-drop loading -----------------------------------------------------------------------


def test_drop_json_workflow_replaces_graph(canvas, tmp_path):
    ids = canvas.shrink_default_graph(steps=7)
    saved = tmp_path / "workflow.json"
    canvas.save().save_as(saved)
    assert len(json.loads(saved.read_text())["nodes"]) == 7

    # Something else on the canvas: one lone node.
    canvas.click_action("clear")
    lone = canvas.add_node("TestSleep")
    assert canvas.node_ids() == [lone]

    drop_file(canvas, "workflow.json", "application/json", saved.read_bytes())
    canvas.page.wait_for_function("() => document.querySelectorAll('.node').length === 7")
    assert canvas.node_ids("TestSleep") == []
    assert canvas.link_count() == 9
    assert canvas.widget(canvas.node_ids("KSampler")[0], "steps").input_value() == "7"
    assert "Loaded workflow.json" in canvas.message()


def test_drop_generated_png_replaces_graph(canvas, live_server):
    ids = canvas.shrink_default_graph(steps=3)
    canvas.set_widget(ids["EmptyLatentImage"], "width", 72)
    canvas.click_action("queue")
    png = output_file(live_server, canvas.wait_output_image(ids["SaveImage"]))
    assert b"tEXtworkflow" in png.read_bytes()

    canvas.click_action("clear")
    canvas.add_node("TestSleep")
    canvas.add_node("TestFail")
    assert len(canvas.node_ids()) == 2

    drop_file(canvas, png.name, "image/png", png.read_bytes())
    canvas.page.wait_for_function("() => document.querySelectorAll('.node').length === 7")
    assert canvas.node_ids("TestSleep") == [] and canvas.node_ids("TestFail") == []
    assert canvas.link_count() == 9
    assert canvas.widget(canvas.node_ids("KSampler")[0], "steps").input_value() == "3"
    assert canvas.widget(canvas.node_ids("EmptyLatentImage")[0], "width").input_value() == "72"


# ---- 3. model lists refresh ----------------------------------------------------------------------------


def test_refresh_button_lists_new_checkpoint(chromium, own_server):
    server = own_server()
    context, canvas = open_canvas(chromium, server)
    try:
        ckpt = canvas.node_ids("CheckpointLoaderSimple")[0]
        options = canvas.widget(ckpt, "ckpt_name").locator("option")
        new_name = "copied-for-refresh.safetensors"
        assert new_name not in options.all_inner_texts()

        checkpoints = server.base_dir / "models" / "checkpoints"
        shutil.copy(checkpoints / DEMO_CHECKPOINT, checkpoints / new_name)
        canvas.click_action("refresh")
        canvas.page.wait_for_function(
            """([sel, name]) => [...document.querySelectorAll(sel)].some((o) => o.value === name)""",
            arg=[f'.node[data-node-id="{ckpt}"] .widget[data-widget="ckpt_name"] option', new_name],
            timeout=10000,
        )
        assert new_name in options.all_inner_texts()
        # The current choice is kept, and the new one can be picked.
        canvas.set_widget(ckpt, "ckpt_name", new_name)
        assert canvas.widget(ckpt, "ckpt_name").input_value() == new_name
        assert not canvas.page_errors
    finally:
        context.close()


# ---- 4. pan and zoom -------------------------------------------------------------------------------------


def test_wheel_zoom_and_background_pan(canvas):
    ids = canvas.shrink_default_graph()
    sampler = canvas.node(ids["KSampler"])
    before = sampler.bounding_box()

    x, y = empty_point(canvas)
    canvas.page.mouse.move(x, y)
    canvas.page.mouse.wheel(0, 200)  # zoom out
    canvas.page.wait_for_function(
        f"w => document.querySelector('.node[data-node-id=\"{ids['KSampler']}\"]').getBoundingClientRect().width < w - 5",
        arg=before["width"])
    smaller = sampler.bounding_box()
    assert 0.6 < smaller["width"] / before["width"] < 0.9

    x, y = empty_point(canvas)
    canvas.page.mouse.move(x, y)
    canvas.page.mouse.wheel(0, -400)  # zoom in
    canvas.page.wait_for_function(
        f"w => document.querySelector('.node[data-node-id=\"{ids['KSampler']}\"]').getBoundingClientRect().width > w + 5",
        arg=smaller["width"])
    larger = sampler.bounding_box()
    assert larger["width"] > smaller["width"] * 1.3

    # Dragging empty background pans every node by the drag distance.
    start = empty_point(canvas)
    boxes = {i: canvas.node(i).bounding_box() for i in canvas.node_ids()}
    canvas.drag(start, (start[0] + 120, start[1] + 70))
    for node_id, old in boxes.items():
        new = canvas.node(node_id).bounding_box()
        assert abs(new["x"] - old["x"] - 120) < 3 and abs(new["y"] - old["y"] - 70) < 3, node_id
        assert abs(new["width"] - old["width"]) < 1
    # The view is kept with the workflow across a reload.
    canvas.reload()
    after_reload = canvas.node(ids["KSampler"]).bounding_box()
    assert abs(after_reload["width"] - larger["width"]) < 2


def test_link_drag_and_queue_after_zoom(canvas):
    ids = canvas.shrink_default_graph()
    x, y = empty_point(canvas)
    canvas.page.mouse.move(x, y)
    canvas.page.mouse.wheel(0, 250)  # zoom out to about 0.69
    scale = canvas.page.evaluate("window.latentloom.canvas.view.scale")
    assert scale < 0.8

    ckpt, sampler = ids["CheckpointLoaderSimple"], ids["KSampler"]
    # Pick the model link up from the sampler's input and drop it on empty space: it is removed.
    canvas.drag(canvas._center(canvas.input_socket(sampler, "model")), empty_point(canvas))
    assert canvas.link_count() == 8
    # Drag a new one from the loader's MODEL output at this zoom.
    canvas.connect(ckpt, 0, sampler, "model")
    assert canvas.link_count() == 9
    assert canvas.page.evaluate(
        f"window.latentloom.graph.target({sampler}, 'model').link != null")

    canvas.click_action("queue")
    canvas.wait_output_image(ids["SaveImage"])


# ---- 5. nothing beyond the server ----------------------------------------------------------------------


def test_page_talks_only_to_its_server(chromium, live_server):
    context = chromium.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    requests, sockets = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("websocket", lambda ws: sockets.append(ws.url))
    try:
        canvas = CanvasDriver(page, live_server.url)
        canvas.open(fresh=True)
        ids = canvas.shrink_default_graph()
        canvas.click_action("queue")
        canvas.wait_output_image(ids["SaveImage"])
        canvas.page.wait_for_load_state("networkidle")
    finally:
        context.close()

    origin = urlparse(live_server.url)
    assert any(urlparse(u).path == "/object_info" or urlparse(u).path == "/api/object_info" for u in requests), requests
    assert any(urlparse(u).path == "/api/view" for u in requests), requests
    strangers = []
    for url in requests:
        parsed = urlparse(url)
        if parsed.scheme == "data":
            continue
        if parsed.scheme == "blob":
            parsed = urlparse(url[len("blob:"):])
        if (parsed.scheme, parsed.netloc) != (origin.scheme, origin.netloc):
            strangers.append(url)
    assert not strangers, f"requests to other hosts: {strangers}"
    assert sockets and all(urlparse(u).netloc == origin.netloc and urlparse(u).scheme == "ws" for u in sockets), sockets


# ---- 5. what a LoRA is, under its combo -------------------------------------------------------------------


def test_lora_loader_and_models_panel_tell_stated_trigger_words_from_frequent_training_tags(chromium, own_server,
                                                                                             tmp_path):
    loras = tmp_path / "models" / "loras"
    write_kohya_lora(loras / "inky.safetensors", metadata={"modelspec.trigger_phrase": "inky style, ink"})
    write_kohya_lora(loras / "xl_only.safetensors", sdxl=True, context_width=2048,
                     metadata={"ss_tag_frequency": json.dumps({"5_x": {"glow": 9, "neon": 4}})})
    write_kohya_lora(loras / "both.safetensors", metadata={
        "modelspec.trigger_phrase": "zkx",
        "ss_tag_frequency": json.dumps({"10_zkx": {"1girl": 20, "zkx": 12, "smile": 3}})})
    server = own_server()
    context, canvas = open_canvas(chromium, server)
    try:
        lora = canvas.add_node("LoraLoader")
        canvas.set_widget(lora, "lora_name", "inky.safetensors")
        note = canvas.node(lora).locator('[data-model-note="lora_name"]')
        assert note.inner_text() == "for SD1.x · trigger words: inky style, ink"
        canvas.set_widget(lora, "lora_name", "xl_only.safetensors")
        # Tags frequent in the captions are not words the file states: they are not called trigger words.
        assert note.inner_text() == "for SDXL · most frequent training tags: glow, neon"
        canvas.set_widget(lora, "lora_name", "both.safetensors")
        assert note.inner_text() == "for SD1.x · trigger words: zkx · most frequent training tags: 1girl, zkx, smile"

        canvas.click_action("models")
        panel = canvas.page.locator('[data-testid="models-panel"]')

        def hints(name: str) -> list[str]:
            entry = panel.locator(f'[data-models-folder="loras"] li[data-model="{name}"]')
            entry.wait_for(timeout=10000)
            return entry.locator("[data-model-hint]").all_inner_texts()

        assert hints("inky.safetensors") == ["trigger words: inky style, ink"]
        assert hints("xl_only.safetensors") == ["most frequent training tags: glow, neon"]
        assert hints("both.safetensors") == ["trigger words: zkx", "most frequent training tags: 1girl, zkx, smile"]
        assert not canvas.page_errors
    finally:
        context.close()
