"""The right-click menus (contextmenu.js) and the batch count: bypass, mute, title and colour from the node menu,
the canvas menu's add node / paste / fit view, and Queue queuing the workflow N times."""

import json

from tests.web.browser.test_canvas_more import empty_point


def right_click(canvas, locator=None, point=None):
    if locator is not None:
        locator.click(button="right", position={"x": 30, "y": 8})
    else:
        canvas.page.mouse.click(*point, button="right")
    canvas.page.wait_for_selector('[data-testid="context-menu"]')


def menu_pick(canvas, key):
    canvas.page.click(f'[data-testid="context-menu"] [data-menu-item="{key}"]')


def record_prompts(canvas) -> list[dict]:
    """The bodies of the page's POST /api/prompt requests, as they are sent."""
    sent = []
    canvas.page.on("request", lambda r: sent.append(r.post_data_json)
                   if r.method == "POST" and r.url.endswith("/api/prompt") else None)
    return sent


def stored_node(canvas, node_id) -> dict:
    workflow = json.loads(canvas.page.evaluate("localStorage.getItem('latentloom.workflow')"))
    return next(n for n in workflow["nodes"] if n["id"] == node_id)


def test_bypassed_lora_and_muted_save_leave_the_prompt_the_run_succeeds_and_node_and_canvas_menus_work(canvas):
    ids = canvas.shrink_default_graph()
    ckpt, sampler = ids["CheckpointLoaderSimple"], ids["KSampler"]
    decode = canvas.node_ids("VAEDecode")[0]
    lora = canvas.add_node("LoraLoader")  # no LoRA file on this server: only a bypass lets it run
    canvas.connect(ckpt, 0, lora, "model")
    canvas.connect(ckpt, 1, lora, "clip")
    canvas.connect(lora, 0, sampler, "model")
    extra_save = canvas.add_node("SaveImage")
    canvas.connect(decode, 0, extra_save, "images")

    right_click(canvas, canvas.node(lora).locator(".node-title"))
    menu_pick(canvas, "bypass")
    right_click(canvas, canvas.node(extra_save).locator(".node-title"))
    menu_pick(canvas, "mute")
    assert "bypassed" in canvas.node(lora).get_attribute("class")
    assert "muted" in canvas.node(extra_save).get_attribute("class")
    assert stored_node(canvas, lora)["mode"] == 4 and stored_node(canvas, extra_save)["mode"] == 2

    sent = record_prompts(canvas)
    canvas.click_action("queue")
    canvas.wait_output_image(ids["SaveImage"])
    assert len(sent) == 1
    prompt = sent[0]["prompt"]
    assert str(lora) not in prompt and str(extra_save) not in prompt
    assert prompt[str(sampler)]["inputs"]["model"] == [str(ckpt), 0], "the bypass wires the LoRA's input through"
    assert canvas.node(extra_save).locator("img[data-output-image]").count() == 0

    # Title and colour, saved in the workflow as ComfyUI saves them, kept over a reload.
    right_click(canvas, canvas.node(sampler).locator(".node-title"))
    menu_pick(canvas, "title")
    assert canvas.page.input_value('[data-testid="dialog-input"]') == "KSampler"
    canvas.page.fill('[data-testid="dialog-input"]', "Main sampler")
    canvas.page.keyboard.press("Enter")
    right_click(canvas, canvas.node(sampler).locator(".node-title"))
    menu_pick(canvas, "color")
    menu_pick(canvas, "color-red")
    saved = stored_node(canvas, sampler)
    assert (saved["title"], saved["color"], saved["bgcolor"]) == ("Main sampler", "#322", "#533")
    canvas.reload()
    assert canvas.node(sampler).locator(".title-text").inner_text() == "Main sampler"
    assert canvas.node(sampler).evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(85, 51, 51)"

    # Node menu copy and delete, canvas menu paste, add node and fit view.
    right_click(canvas, canvas.node(extra_save).locator(".node-title"))
    menu_pick(canvas, "copy")
    right_click(canvas, point=empty_point(canvas))
    menu_pick(canvas, "paste")
    assert len(canvas.node_ids("SaveImage")) == 3
    right_click(canvas, canvas.node(extra_save).locator(".node-title"))
    menu_pick(canvas, "delete")
    assert len(canvas.node_ids("SaveImage")) == 2
    right_click(canvas, point=empty_point(canvas))
    menu_pick(canvas, "add-node")
    canvas.page.fill('[data-testid="node-search-input"]', "vae decode")
    canvas.page.keyboard.press("Enter")
    assert len(canvas.node_ids("VAEDecode")) == 2
    canvas.page.evaluate("() => { const v = window.latentloom.canvas.view; v.x += 3000; window.latentloom.canvas.applyView(); }")
    right_click(canvas, point=empty_point(canvas))
    menu_pick(canvas, "fit-view")
    assert canvas.node(sampler).is_visible() and canvas.node(sampler).bounding_box()["x"] < 1600


def test_a_batch_count_of_two_queues_the_workflow_twice(canvas):
    canvas.click_action("clear")
    sleep = canvas.add_node("TestSleep")
    canvas.set_widget(sleep, "seconds", 0)
    sent = record_prompts(canvas)
    canvas.page.fill('[data-testid="batch-count"]', "2")
    canvas.click_action("queue")
    while len(sent) < 2:
        canvas.page.wait_for_event("request", timeout=10000)
    ids = [body["prompt_id"] for body in sent]
    assert ids[0] != ids[1]
    # Both land in the history (the page fetches it on each poll; a poll sees the answer of the one before).
    canvas.page.wait_for_function(
        """ids => { fetch('/api/history').then(r => r.json()).then(h => { window.seenHistory = h; });
                    return !!window.seenHistory && ids.every(id => id in window.seenHistory); }""",
        arg=ids, polling=200, timeout=15000)
