"""Errors from the server appear on the node and input they concern, wrapped inside the node."""

import json
from pathlib import Path

from tests.fixtures.tiny_checkpoints import write_kohya_lora
from tests.web.browser.canvas_driver import open_canvas
from tests.web.client import text_to_image


def test_missing_model_link_is_shown_on_ksampler_input(canvas):
    ids = canvas.shrink_default_graph()
    sampler = ids["KSampler"]
    links = canvas.link_count()

    # Pick up the link at KSampler's model input and drop it on empty canvas: the link goes away.
    start = canvas._center(canvas.input_socket(sampler, "model"))
    box = canvas.canvas_box()
    canvas.drag(start, (box["x"] + box["width"] - 40, box["y"] + box["height"] - 40))
    assert canvas.link_count() == links - 1
    assert canvas.page.locator(f'svg.links path.link[data-to="{sampler}"][data-to-input="model"]').count() == 0

    canvas.click_action("queue")
    node = canvas.node(sampler)
    canvas.page.wait_for_selector(f'.node[data-node-id="{sampler}"].has-error', timeout=15000)
    model_slot = node.locator('[data-input="model"]')
    assert "input-error" in model_slot.get_attribute("class")
    assert model_slot.get_attribute("data-error")
    assert "model" in node.locator("[data-node-error]").inner_text()
    # The other inputs are not blamed.
    assert "input-error" not in node.locator('[data-input="positive"]').get_attribute("class")

    # Reconnecting and queueing again clears the error.
    ckpt = ids["CheckpointLoaderSimple"]
    canvas.connect(ckpt, 0, sampler, "model")
    canvas.click_action("queue")
    canvas.wait_output_image(ids["SaveImage"])
    assert node.locator("[data-node-error]").inner_text() == ""
    assert "has-error" not in node.get_attribute("class")


# The extents of an element's text as drawn (a Range covers every line box, overflowing ones included) and of the
# node around it, in page pixels.
TEXT_AND_NODE_BOXES = """(element) => {
  const range = document.createRange();
  range.selectNodeContents(element);
  const text = range.getBoundingClientRect();
  const node = element.closest('.node').getBoundingClientRect();
  return { text: { left: text.left, right: text.right, width: text.width },
           node: { left: node.left, right: node.right }, overflow: element.scrollWidth - element.clientWidth };
}"""


def assert_text_inside_node(locator) -> None:
    boxes = locator.evaluate(TEXT_AND_NODE_BOXES)
    assert boxes["text"]["width"] > 0, "the text is not drawn"
    assert boxes["node"]["left"] <= boxes["text"]["left"] and boxes["text"]["right"] <= boxes["node"]["right"], boxes
    assert boxes["overflow"] <= 0, boxes


def lora_prompt(lora_name: str) -> dict:
    """The demo text-to-image workflow with a LoRA between the checkpoint and its users."""
    prompt = text_to_image(size=64, steps=2, prefix="lora_family")
    prompt["10"] = {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": lora_name,
                                                           "strength_model": 1.0, "strength_clip": 1.0}}
    prompt["3"]["inputs"]["model"] = ["10", 0]
    prompt["6"]["inputs"]["clip"] = prompt["7"]["inputs"]["clip"] = ["10", 1]
    return prompt


def open_prompt(canvas, path: Path, prompt: dict) -> None:
    path.write_text(json.dumps(prompt))
    canvas.page.set_input_files('[data-testid="load-file"]', str(path))
    canvas.page.wait_for_function(f"() => document.querySelectorAll('.node').length === {len(prompt)}")


def test_a_node_failure_shows_its_message_wrapped_in_the_node_and_its_type_only_in_details(chromium, own_server,
                                                                                          tmp_path):
    # A LoRA for another base family than the demo checkpoint's fails when it is applied, with a LoraFamilyError.
    name = "an_sdxl_style_lora_with_a_rather_long_file_name_v2.safetensors"
    write_kohya_lora(tmp_path / "models" / "loras" / name, sdxl=True, context_width=2048)
    server = own_server()
    context, canvas = open_canvas(chromium, server)
    try:
        open_prompt(canvas, tmp_path / "lora_prompt.json", lora_prompt(name))
        canvas.click_action("queue")
        canvas.page.wait_for_selector('.node[data-node-id="10"].has-error', timeout=60000)
        error = canvas.node(10).locator("[data-node-error]")
        visible = error.inner_text()
        assert f"{name} is a LoRA for SDXL but the model is SD1.x" in visible
        assert "LoraFamilyError" not in visible and "nodes.runtime" not in visible
        assert_text_inside_node(error.locator("[data-node-error-message]"))

        details = error.locator("[data-node-error-details]")
        details.locator("summary").click()
        assert details.get_attribute("open") is not None
        assert "nodes.runtime.lora.lora_file.LoraFamilyError" in details.inner_text()
        assert_text_inside_node(details)
        assert not canvas.page_errors
    finally:
        context.close()


def test_a_long_input_error_from_the_server_wraps_inside_the_node(canvas, tmp_path):
    prompt = text_to_image(size=64, steps=2, prefix="missing_checkpoint")
    missing = "a_checkpoint_that_is_not_installed_here_" + "x" * 60 + ".safetensors"
    prompt["4"]["inputs"]["ckpt_name"] = missing
    canvas.click_action("clear")
    open_prompt(canvas, tmp_path / "missing_checkpoint.json", prompt)
    canvas.click_action("queue")
    canvas.page.wait_for_selector('.node[data-node-id="4"].has-error', timeout=15000)
    node = canvas.node(4)
    widget = node.locator('.widget[data-widget="ckpt_name"]')
    assert missing in widget.get_attribute("data-error")
    # The message beside the input (drawn by CSS from data-error) stays inside the widget's row and the node.
    row = widget.evaluate("e => ({ overflow: e.scrollWidth - e.clientWidth, right: e.getBoundingClientRect().right,"
                          " node: e.closest('.node').getBoundingClientRect().right })")
    assert row["overflow"] <= 0 and row["right"] <= row["node"], row
    message = node.locator("[data-node-error-message]")
    assert missing in message.inner_text()
    assert_text_inside_node(message)
