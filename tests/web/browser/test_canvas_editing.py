"""Editing gestures: typed connections, undo/redo, copy/paste, delete."""


def test_incompatible_connection_is_refused(canvas):
    canvas.click_action("clear")
    latent = canvas.add_node("EmptyLatentImage")
    sampler = canvas.add_node("KSampler")
    canvas.place(latent, 10, 300)
    canvas.place(sampler, 400, 10)

    canvas.connect(latent, 0, sampler, "model")
    assert canvas.link_count() == 0
    model_slot = canvas.node(sampler).locator('[data-input="model"]')
    assert "refused" in model_slot.get_attribute("class")
    message = canvas.page.locator('[data-testid="message"]')
    assert message.is_visible()
    assert "LATENT" in message.inner_text() and "MODEL" in message.inner_text()

    # The matching input takes the same output.
    canvas.connect(latent, 0, sampler, "latent_image")
    assert canvas.link_count() == 1
    link = canvas.page.locator("svg.links path.link")
    assert link.get_attribute("data-from") == str(latent)
    assert link.get_attribute("data-to-input") == "latent_image"


def test_undo_redo_add_node(canvas):
    canvas.click_action("clear")
    assert canvas.node_ids() == []
    canvas.add_node("KSampler")
    assert len(canvas.node_ids("KSampler")) == 1

    canvas.page.locator('[data-testid="canvas"]').click(position={"x": 5, "y": 5})
    canvas.page.keyboard.press("Control+z")
    assert canvas.node_ids("KSampler") == []
    canvas.page.keyboard.press("Control+y")
    assert len(canvas.node_ids("KSampler")) == 1
    canvas.click_action("undo")
    assert canvas.node_ids("KSampler") == []
    canvas.click_action("redo")
    assert len(canvas.node_ids("KSampler")) == 1
    canvas.page.keyboard.press("Control+z")
    canvas.page.keyboard.press("Control+Shift+z")
    assert len(canvas.node_ids("KSampler")) == 1


def test_copy_paste_and_delete(canvas):
    canvas.click_action("clear")
    sampler = canvas.add_node("KSampler")
    canvas.place(sampler, 10, 10)
    canvas.set_widget(sampler, "steps", 7)

    canvas.node(sampler).locator(".node-title").click()
    canvas.page.keyboard.press("Control+c")
    box = canvas.canvas_box()
    canvas.page.mouse.move(box["x"] + 500, box["y"] + 100)
    canvas.page.keyboard.press("Control+v")

    ids = canvas.node_ids("KSampler")
    assert len(ids) == 2
    pasted = max(ids)
    assert pasted != sampler
    assert canvas.widget(pasted, "steps").input_value() == "7"

    # The pasted node is selected; Delete removes only it.
    canvas.page.keyboard.press("Delete")
    assert canvas.node_ids("KSampler") == [sampler]


def test_workflow_survives_reload(canvas):
    ids = canvas.shrink_default_graph()
    canvas.reload()
    assert len(canvas.node_ids()) == 7
    assert canvas.widget(ids["EmptyLatentImage"], "width").input_value() == "64"
    assert canvas.link_count() == 9
