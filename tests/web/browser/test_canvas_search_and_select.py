"""The node search (nodesearch.js: fuzzy ranking, links dropped on empty space), box select and resize
(selection.js), the shortcut list (shortcuts.js) and Save's name dialog."""

import json

from tests.web.browser.test_canvas_menus import stored_node

SEARCH = '[data-testid="node-search"]'


def search_results(canvas) -> list[str]:
    return canvas.page.eval_on_selector_all(f"{SEARCH} [data-search-node]", "els => els.map(e => e.dataset.searchNode)")


def link_into(canvas, node_id, name) -> dict:
    path = canvas.page.locator(f'svg.links path.link[data-to="{node_id}"][data-to-input="{name}"]')
    assert path.count() == 1, f"no link into {name} of node {node_id}"
    return {"from": int(path.get_attribute("data-from")), "slot": int(path.get_attribute("data-from-slot"))}


def test_links_dropped_on_empty_space_search_the_nodes_that_fit_ranked_fuzzily(canvas):
    canvas.click_action("clear")
    ckpt = canvas.add_node("CheckpointLoaderSimple")
    canvas.place(ckpt, 20, 200)
    box = canvas.canvas_box()
    mouse = canvas.page.mouse

    # An output dropped on empty space: the search lists only nodes with an input of its type.
    socket = canvas.output_socket(ckpt, 0).bounding_box()
    canvas.drag((socket["x"] + 6, socket["y"] + 6), (box["x"] + 700, box["y"] + 150))
    canvas.page.wait_for_selector(SEARCH)
    listed = search_results(canvas)
    assert "KSampler" in listed and "LoraLoader" in listed and "EmptyLatentImage" not in listed
    # Words in any order, ranked: "sampler k" finds KSampler first.
    canvas.page.fill('[data-testid="node-search-input"]', "sampler k")
    assert search_results(canvas)[0] == "KSampler"
    canvas.page.keyboard.press("Enter")
    sampler = canvas.node_ids("KSampler")[0]
    assert link_into(canvas, sampler, "model") == {"from": ckpt, "slot": 0}
    placed = canvas.node(sampler).bounding_box()
    assert abs(placed["x"] - (box["x"] + 700)) < 5 and abs(placed["y"] - (box["y"] + 150)) < 5

    # A free input dragged to empty space: only nodes with an output of its type, linked the other way.
    socket = canvas.input_socket(sampler, "latent_image").bounding_box()
    canvas.drag((socket["x"] + 6, socket["y"] + 6), (box["x"] + 600, box["y"] + 600))
    canvas.page.wait_for_selector(SEARCH)
    listed = search_results(canvas)
    assert "EmptyLatentImage" in listed and "KSampler" in listed and "CheckpointLoaderSimple" not in listed
    canvas.page.fill('[data-testid="node-search-input"]', "latent empty")
    canvas.page.click(f'{SEARCH} [data-search-node="EmptyLatentImage"]')
    latent = canvas.node_ids("EmptyLatentImage")[0]
    assert link_into(canvas, sampler, "latent_image") == {"from": latent, "slot": 0}

    # A double click searches everything (categories too); Escape closes the box; the palette ranks the same way.
    mouse.dblclick(box["x"] + 900, box["y"] + 700)
    canvas.page.fill('[data-testid="node-search-input"]', "vae dec")
    assert search_results(canvas)[0] == "VAEDecode"
    canvas.page.fill('[data-testid="node-search-input"]', "sampling")  # a word of KSampler's category only
    assert "KSampler" in search_results(canvas)
    canvas.page.keyboard.press("Escape")
    assert canvas.page.locator(SEARCH).count() == 0
    canvas.page.fill('[data-testid="palette-search"]', "sampler k")
    first = canvas.page.locator(".palette-list .palette-item").first.get_attribute("data-palette-node")
    assert first == "KSampler"


def test_box_select_moves_and_deletes_together_resize_is_saved_shortcuts_and_save_name(canvas):
    page = canvas.page
    texts = canvas.node_ids("CLIPTextEncode")
    boxes = [canvas.node(i).bounding_box() for i in texts]
    left = min(b["x"] for b in boxes) - 8
    top = min(b["y"] for b in boxes) - 8
    right = max(b["x"] + b["width"] for b in boxes) + 4
    bottom = max(b["y"] + b["height"] for b in boxes) + 4
    page.keyboard.down("Control")
    canvas.drag((left, top), (right, bottom))
    page.keyboard.up("Control")
    selected = [int(x) for x in page.eval_on_selector_all(".node.selected", "els => els.map(e => e.dataset.nodeId)")]
    assert sorted(selected) == sorted(texts)

    # Moving one moves both.
    canvas.place(texts[0], boxes[0]["x"] - canvas.canvas_box()["x"] + 40, boxes[0]["y"] - canvas.canvas_box()["y"] + 30)
    moved = [canvas.node(i).bounding_box() for i in texts]
    for before, after in zip(boxes, moved):
        assert abs(after["x"] - before["x"] - 40) < 3 and abs(after["y"] - before["y"] - 30) < 3
    page.keyboard.press("Delete")
    assert canvas.node_ids("CLIPTextEncode") == [] and len(canvas.node_ids()) == 5

    # The bottom-right corner resizes; the size is saved and comes back on a reload.
    sampler = canvas.node_ids("KSampler")[0]
    before = canvas.node(sampler).bounding_box()
    handle = canvas.node(sampler).locator("[data-resize-handle]").bounding_box()
    start = (handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    canvas.drag(start, (start[0] + 120, start[1] + 100))
    after = canvas.node(sampler).bounding_box()
    assert after["width"] > before["width"] + 60 and after["height"] > before["height"] + 50
    size = stored_node(canvas, sampler)["size"]
    canvas.reload()
    assert stored_node(canvas, sampler)["size"] == size
    assert canvas.node(sampler).evaluate("e => e.offsetWidth") == size[0]

    # "?" lists the shortcuts, Escape closes the list.
    page.locator('[data-testid="canvas"]').click(position={"x": 5, "y": 5})
    page.keyboard.press("?")
    help_box = page.locator('[data-testid="shortcut-help"]')
    assert "Ctrl+B" in help_box.inner_text() and "Bypass" in help_box.inner_text()
    page.keyboard.press("Escape")
    assert help_box.count() == 0

    # Save asks for a name, prefilled, and downloads <name>.json; the next save offers that name.
    page.keyboard.press("Control+s")
    assert page.input_value('[data-testid="dialog-input"]') == "workflow"
    page.keyboard.press("Escape")
    assert page.locator('[data-testid="dialog"]').count() == 0
    download = canvas.save("sunset test")
    assert download.suggested_filename == "sunset test.json"
    assert len(json.loads(open(download.path()).read())["nodes"]) == 5
    canvas.click_action("save")
    assert page.input_value('[data-testid="dialog-input"]') == "sunset test"
    page.click('[data-testid="dialog-cancel"]')
