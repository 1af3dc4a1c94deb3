"""Issue 19 §2 on the canvas: the run history and its lightbox, images into LoadImage nodes, A1111 PNGs, ComfyUI
files saved at another zoom, and note nodes."""

import io
import json
import uuid

from PIL import Image, PngImagePlugin

from tests.web.browser.canvas_driver import drop_file

A1111_PARAMETERS = ("a lighthouse at dusk\nNegative prompt: fog\nSteps: 3, Sampler: Euler a, CFG scale: 5, Seed: 99, "
                    "Size: 64x64, Model: latentloom-demo-sd1-random-weights")


def image_bytes(image_format: str, size=(96, 64), text: dict | None = None) -> bytes:
    """A real image file: noise, like a photo as far as a codec cares; PNG text chunks from `text`."""
    image = Image.effect_noise(size, 60).convert("RGB")
    buffer = io.BytesIO()
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
    image.save(buffer, format=image_format, pnginfo=info) if info else image.save(buffer, format=image_format)
    return buffer.getvalue()


def wait_image(page, selector: str) -> None:
    page.wait_for_function("""sel => { const img = document.querySelector(sel);
                                return img && img.complete && img.naturalWidth > 0; }""", arg=selector)


def test_history_lists_runs_after_a_reload_shows_images_large_and_opens_the_run_workflow(canvas):
    page = canvas.page
    canvas.click_action("clear")
    empty, save = canvas.add_node("EmptyImage"), canvas.add_node("SaveImage")
    canvas.place(save, 400, 40)
    canvas.connect(empty, 0, save, "images")
    canvas.set_widget(empty, "batch_size", 2)  # two images in one run, quick: no diffusion
    canvas.set_widget(empty, "color", 255)
    with page.expect_request("**/api/prompt") as sent:
        canvas.click_action("queue")
    prompt_id = sent.value.post_data_json["prompt_id"]
    canvas.wait_output_image(save)
    page.click('[data-testid="gallery"] [data-gallery-image]')  # the live gallery opens in the lightbox too
    wait_image(page, "[data-lightbox-image]")
    page.keyboard.press("Escape")

    canvas.reload()  # the history comes from the server, not from the page
    first = f'[data-testid="history"] li[data-history-id="{prompt_id}"]'
    wait_image(page, f"{first} [data-history-thumb]")
    assert page.locator(f"{first} [data-history-status]").inner_text().endswith("success")
    assert page.locator(f"{first} [data-history-time]").inner_text()

    canvas.node(save).locator(".node-title").click()
    page.click(f"{first} [data-history-thumb]")
    lightbox = page.locator('[data-testid="lightbox"]')
    wait_image(page, "[data-lightbox-image]")
    caption = page.locator("[data-lightbox-caption]")
    assert caption.inner_text().startswith("1 / ")
    src = page.locator("[data-lightbox-image]").get_attribute("src")
    page.keyboard.press("ArrowRight")
    assert caption.inner_text().startswith("2 / ")
    assert page.locator("[data-lightbox-image]").get_attribute("src") != src  # the batch's second image
    page.click('[data-lightbox="previous"]')
    assert page.locator("[data-lightbox-image]").get_attribute("src") == src
    page.keyboard.press("Delete")  # held by the open lightbox: the selected node stays
    page.keyboard.press("Escape")
    assert lightbox.is_hidden() and len(canvas.node_ids()) == 2

    placed = canvas.node(save).evaluate("e => e.style.left")
    canvas.click_action("clear")
    page.click(f"{first} [data-history-load]")
    page.wait_for_function("() => document.querySelectorAll('.node').length === 2")
    # The editor's own workflow came back (its layout), not the prompt laid out again, and with its values.
    assert canvas.node(save).evaluate("e => e.style.left") == placed
    assert canvas.widget(empty, "batch_size").input_value() == "2"


def test_images_go_into_load_image_nodes_by_button_drop_and_paste_and_a_photo_makes_one(canvas, live_server):
    page = canvas.page
    canvas.click_action("clear")
    image_node = canvas.add_node("LoadImage")
    mask_node = canvas.add_node("LoadImageMask")
    inputs = live_server.base_dir / "input"
    tag = uuid.uuid4().hex[:8]  # names no other test of the session's server has uploaded
    by_button, dropped, pasted, photo = (f"{tag}-{name}" for name in ("by-button.png", "dropped.jpg", "pasted.png",
                                                                     "photo.jpg"))

    page.set_input_files(f'.node[data-node-id="{image_node}"] [data-upload-input]',
                         files=[{"name": by_button, "mimeType": "image/png", "buffer": image_bytes("PNG")}])
    page.wait_for_function("([id, name]) => window.latentloom.graph.nodes.get(id).widgets[0].value === name",
                           arg=[image_node, by_button])
    assert (inputs / by_button).is_file()
    wait_image(page, f'.node[data-node-id="{image_node}"] [data-upload-preview]')
    # every image combo lists the new file, not only the node that took it
    assert by_button in canvas.widget(mask_node, "image").evaluate("s => [...s.options].map(o => o.value)")

    drop_file(canvas, dropped, "image/jpeg", image_bytes("JPEG"), target=canvas.node(mask_node))
    page.wait_for_function("name => document.querySelector('[data-node-type=LoadImageMask] select').value === name",
                           arg=dropped)
    assert Image.open(inputs / dropped).format == "JPEG"

    canvas.node(image_node).locator(".node-title").click()
    page.evaluate("""([bytes, name]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], name, { type: 'image/png' }));
        document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true }));
    }""", [list(image_bytes("PNG")), pasted])
    page.wait_for_function("([id, name]) => window.latentloom.graph.nodes.get(id).widgets[0].value === name",
                           arg=[image_node, pasted])
    assert (inputs / pasted).is_file() and len(canvas.node_ids()) == 2  # no nodes pasted besides

    box = canvas.canvas_box()
    drop_file(canvas, photo, "image/jpeg", image_bytes("JPEG"), at=(box["width"] - 300, box["height"] - 300))
    page.wait_for_function("() => document.querySelectorAll('.node[data-node-type=LoadImage]').length === 2")
    new_node = max(canvas.node_ids("LoadImage"))
    page.wait_for_function("([id, name]) => window.latentloom.graph.nodes.get(id).widgets[0].value === name",
                           arg=[new_node, photo])
    assert (inputs / photo).is_file()
    assert "holds no workflow" in canvas.message()


COMFY_FILE = {
    "last_node_id": 3, "last_link_id": 0, "version": 0.4, "links": [], "groups": [], "config": {},
    "extra": {"ds": {"scale": 0.5, "offset": [100, 40]}, "frontendVersion": "1.35.9"},
    "nodes": [
        {"id": 1, "type": "TestSleep", "pos": [200, 300], "size": [315, 82], "flags": {}, "order": 0, "mode": 0,
         "inputs": [], "outputs": [{"name": "INT", "type": "INT", "links": None}],
         "properties": {"Node name for S&R": "TestSleep"}, "widgets_values": [0, 4242]},
        {"id": 2, "type": "Note", "pos": [600, 300], "size": [400, 160], "flags": {}, "order": 1, "mode": 0,
         "inputs": [], "outputs": [], "properties": {"text": ""}, "widgets_values": ["Use the demo model."],
         "color": "#432", "bgcolor": "#653"},
        {"id": 3, "type": "MarkdownNote", "pos": [600, 600], "size": [400, 160], "flags": {}, "order": 2, "mode": 0,
         "inputs": [], "outputs": [], "properties": {}, "widgets_values": ["# Read me\nSeeds are fixed."]},
    ],
}


def test_a1111_png_a_comfyui_file_at_half_zoom_and_notes(canvas, tmp_path):
    page = canvas.page
    drop_file(canvas, "a1111.png", "image/png", image_bytes("PNG", (64, 64), {"parameters": A1111_PARAMETERS}))
    page.wait_for_function("() => document.querySelectorAll('.node[data-node-type=KSampler]').length === 1 && "
                           "document.body.innerText.includes('Loaded a1111.png')")
    assert canvas.widget(canvas.node_ids("KSampler")[0], "steps").input_value() == "3"
    texts = {canvas.widget(n, "text").input_value() for n in canvas.node_ids("CLIPTextEncode")}
    assert texts == {"a lighthouse at dusk", "fog"}

    path = tmp_path / "saved_by_comfyui.json"
    path.write_text(json.dumps(COMFY_FILE))
    page.set_input_files('[data-testid="load-file"]', str(path))
    page.wait_for_function("() => document.querySelectorAll('.node').length === 3")
    box, node = canvas.canvas_box(), canvas.node(1).bounding_box()
    # LiteGraph draws a node at (pos + offset) · scale
    assert abs(node["x"] - (box["x"] + (200 + 100) * 0.5)) < 1 and abs(node["y"] - (box["y"] + (300 + 40) * 0.5)) < 1
    assert page.locator(".node.missing").count() == 0
    assert canvas.widget(3, "text").input_value() == "# Read me\nSeeds are fixed."
    canvas.set_widget(2, "text", "Edited: use the demo model.")

    saved = json.loads(open(canvas.save().path()).read())
    assert saved["extra"]["ds"] == {"scale": 0.5, "offset": [100, 40]}
    notes = {n["type"]: n["widgets_values"] for n in saved["nodes"] if "Note" in n["type"]}
    assert notes == {"Note": ["Edited: use the demo model."], "MarkdownNote": ["# Read me\nSeeds are fixed."]}

    with page.expect_request("**/api/prompt") as sent:
        canvas.click_action("queue")
    body = sent.value.post_data_json
    assert [n["class_type"] for n in body["prompt"].values()] == ["TestSleep"]  # the notes never reach the server
    assert len(body["extra_data"]["extra_pnginfo"]["workflow"]["nodes"]) == 3  # but travel in the saved workflow
