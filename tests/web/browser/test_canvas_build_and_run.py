"""Building text-to-image by hand on the canvas and running it on the real server."""

from urllib.parse import parse_qs, urlparse


def test_build_default_graph_by_clicking_and_queue(canvas, live_server):
    ids = canvas.build_default_graph_by_hand()
    assert canvas.link_count() == 9
    assert len(canvas.node_ids()) == 7

    canvas.click_action("queue")
    src = canvas.wait_output_image(ids["save"])

    url = urlparse(src)
    assert url.path == "/api/view"
    query = parse_qs(url.query)
    assert query["type"] == ["output"]
    saved = live_server.base_dir / "output" / query.get("subfolder", [""])[0] / query["filename"][0]
    assert saved.is_file() and saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The gallery shows the same image.
    assert canvas.page.locator(f'[data-testid="gallery"] img[src="{src}"]').count() == 1


def test_seed_randomizes_after_queue(canvas):
    ids = canvas.shrink_default_graph()
    seed = canvas.widget(ids["KSampler"], "seed")
    canvas.set_widget(ids["KSampler"], "seed", 5)
    canvas.page.locator(f'.node[data-node-id="{ids["KSampler"]}"] [data-widget="control_after_generate"] select').select_option("increment")
    canvas.click_action("queue")
    canvas.page.wait_for_function(
        "sel => document.querySelector(sel).value === '6'",
        arg=f'.node[data-node-id="{ids["KSampler"]}"] .widget[data-widget="seed"] input',
    )
    assert seed.input_value() == "6"
    canvas.wait_output_image(ids["SaveImage"])
