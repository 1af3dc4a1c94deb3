"""The demo checkpoint's images are noise by design: the canvas says so on its loader, under the images of a run
that used it (on the node and in the gallery) and in the Models panel, and says nothing of the kind for a real
checkpoint."""

from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, build_sd1
from tests.web.browser.canvas_driver import DEMO_CHECKPOINT, open_canvas
from tests.web.client import call_json

OTHER = "my_style.safetensors"


def test_the_demo_checkpoint_is_called_random_weights_on_its_loader_its_images_and_the_panel(chromium, own_server,
                                                                                            tmp_path):
    build_sd1(tmp_path / "models" / "checkpoints", name=OTHER, vocab_size=FULL_VOCABULARY)
    server = own_server()
    status, listing = call_json(f"{server.url}/api/models/checkpoints?details=1")
    assert status == 200
    assert {entry["name"]: entry["random_weights"] for entry in listing} == {DEMO_CHECKPOINT: True, OTHER: False}

    context, canvas = open_canvas(chromium, server)
    try:
        ids = canvas.shrink_default_graph()
        loader, save = ids["CheckpointLoaderSimple"], ids["SaveImage"]
        note = canvas.node(loader).locator('[data-model-note="ckpt_name"]')
        assert note.inner_text() == "Demo checkpoint with random weights: its images are noise."
        canvas.set_widget(loader, "ckpt_name", OTHER)
        assert note.is_hidden()
        canvas.set_widget(loader, "ckpt_name", DEMO_CHECKPOINT)
        assert note.is_visible()

        canvas.click_action("queue")
        src = canvas.wait_output_image(save)
        under_image = canvas.node(save).locator("[data-image-note]")
        said = under_image.inner_text()
        assert said.startswith("Random weights: put a real checkpoint in models/checkpoints")
        assert "`latentloom models install" in said
        image_box = canvas.node(save).locator("img[data-output-image]").bounding_box()
        note_box, node_box = under_image.bounding_box(), canvas.node(save).bounding_box()
        assert note_box["y"] >= image_box["y"] + image_box["height"]
        assert node_box["x"] <= note_box["x"] and note_box["x"] + note_box["width"] <= node_box["x"] + node_box["width"]
        in_gallery = canvas.page.locator('[data-testid="gallery"] figure').first
        assert in_gallery.locator("img").get_attribute("src") == src
        assert in_gallery.locator("[data-image-note]").inner_text() == said

        # A run on a real checkpoint says nothing of the kind, on the node or under its image in the gallery.
        canvas.set_widget(loader, "ckpt_name", OTHER)
        canvas.click_action("queue")
        other_src = canvas.wait_output_image(save, not_src=src)
        assert under_image.is_hidden()
        newest = canvas.page.locator('[data-testid="gallery"] figure').first
        assert newest.locator("img").get_attribute("src") == other_src
        assert newest.locator("[data-image-note]").count() == 0

        canvas.click_action("models")
        panel = canvas.page.locator('[data-testid="models-panel"] [data-models-folder="checkpoints"]')
        demo_entry = panel.locator(f'li[data-model="{DEMO_CHECKPOINT}"]')
        demo_entry.wait_for(timeout=10000)
        assert demo_entry.locator("[data-model-note]").inner_text() == said
        assert panel.locator(f'li[data-model="{OTHER}"] [data-model-note]').count() == 0
        assert not canvas.page_errors
    finally:
        context.close()
