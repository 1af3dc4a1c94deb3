"""Validation errors from the server appear on the node and input they concern."""


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
