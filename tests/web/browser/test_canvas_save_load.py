"""Saving a workflow, loading it into a fresh page, and loading one from a PNG."""

import json
from urllib.parse import parse_qs, urlparse


def output_file(live_server, src):
    query = parse_qs(urlparse(src).query)
    return live_server.base_dir / "output" / query.get("subfolder", [""])[0] / query["filename"][0]


def test_save_reload_load_and_queue_again(canvas, live_server, tmp_path):
    ids = canvas.shrink_default_graph()
    canvas.click_action("queue")
    first = canvas.wait_output_image(ids["SaveImage"])

    saved = tmp_path / "workflow.json"
    canvas.save().save_as(saved)
    workflow = json.loads(saved.read_text())
    assert workflow["version"] == 0.4
    assert len(workflow["nodes"]) == 7 and len(workflow["links"]) == 9
    sampler = next(n for n in workflow["nodes"] if n["type"] == "KSampler")
    assert sampler["widgets_values"][1] in ("fixed", "increment", "decrement", "randomize")
    assert sampler["widgets_values"][2] == 2

    canvas.reload()
    canvas.click_action("clear")
    assert canvas.node_ids() == []
    canvas.page.set_input_files('[data-testid="load-file"]', str(saved))
    canvas.page.wait_for_function("() => document.querySelectorAll('.node').length === 7")
    assert canvas.link_count() == 9
    save_id = canvas.node_ids("SaveImage")[0]
    assert canvas.widget(canvas.node_ids("EmptyLatentImage")[0], "width").input_value() == "64"

    canvas.click_action("queue")
    second = canvas.wait_output_image(save_id, not_src=first)
    assert second != first
    assert output_file(live_server, first).is_file()
    assert output_file(live_server, second).is_file()


def test_load_workflow_from_generated_png(canvas, live_server):
    ids = canvas.shrink_default_graph()
    # a seed of its own: the shared server would otherwise answer from its cache with the image another test's run
    # saved, which carries that test's canvas (other nodes) in its workflow chunk
    canvas.set_widget(ids["KSampler"], "seed", 424242)
    canvas.click_action("queue")
    png = output_file(live_server, canvas.wait_output_image(ids["SaveImage"]))

    canvas.click_action("clear")
    canvas.page.set_input_files('[data-testid="load-file"]', str(png))
    canvas.page.wait_for_function("() => document.querySelectorAll('.node').length === 7")
    assert canvas.link_count() == 9
    assert canvas.widget(canvas.node_ids("KSampler")[0], "steps").input_value() == "2"
