"""The canvas opens API-format files (JSON, or a PNG with only a `prompt` chunk) through the server's converter,
and queues through it too: the canvas, the CLI and the server share one converter."""

import io
import json

from PIL import Image, PngImagePlugin

from tests.web.browser.canvas_driver import drop_file
from tests.web.client import text_to_image

NODE_BOXES = """() => [...document.querySelectorAll('.node')].map((e) => {
  const r = e.getBoundingClientRect();
  return { id: Number(e.dataset.nodeId), left: r.left, top: r.top, right: r.right, bottom: r.bottom };
})"""

LINK_ENDS = """() => [...window.latentloom.graph.links.values()].map((l) => [l.from, l.to])"""


def assert_laid_out_left_to_right(canvas) -> None:
    """As drawn: every link leaves a node to the left of the node it feeds, and no two nodes overlap."""
    boxes = {b["id"]: b for b in canvas.page.evaluate(NODE_BOXES)}
    links = canvas.page.evaluate(LINK_ENDS)
    assert links
    for source, target in links:
        assert boxes[source]["right"] < boxes[target]["left"], f"link {source} → {target} does not go right"
    ordered = list(boxes.values())
    for i, a in enumerate(ordered):
        for b in ordered[i + 1:]:
            apart = a["right"] <= b["left"] or b["right"] <= a["left"] or a["bottom"] <= b["top"] or b["bottom"] <= a["top"]
            assert apart, f"nodes {a['id']} and {b['id']} overlap"


def test_open_api_format_file_lays_it_out_and_queue_runs_it(canvas, tmp_path):
    prompt = text_to_image(seed=31, size=64, steps=2, prefix="api_open")
    path = tmp_path / "api_prompt.json"
    path.write_text(json.dumps(prompt))

    canvas.click_action("clear")
    canvas.page.set_input_files('[data-testid="load-file"]', str(path))
    canvas.page.wait_for_function(f"() => document.querySelectorAll('.node').length === {len(prompt)}")
    assert canvas.link_count() == 9
    assert sorted(canvas.node_ids()) == sorted(int(k) for k in prompt)
    assert "Loaded api_prompt.json" in canvas.message()
    sampler = canvas.node_ids("KSampler")[0]
    assert canvas.widget(sampler, "seed").input_value() == "31"
    assert canvas.widget(sampler, "steps").input_value() == "2"
    assert canvas.node(6).locator(".node-title").inner_text().startswith(prompt["6"]["_meta"]["title"])
    assert_laid_out_left_to_right(canvas)

    canvas.click_action("queue")
    canvas.wait_output_image(canvas.node_ids("SaveImage")[0])
    # The seed was opened as "fixed": queueing did not change it.
    assert canvas.widget(sampler, "seed").input_value() == "31"


def png_with_prompt_only(prompt: dict) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def test_drop_png_with_only_a_prompt_chunk(canvas):
    prompt = json.loads('{"1": {"class_type": "PrimitiveInt", "inputs": {"value": 6}, "_meta": {"title": "Six"}},'
                        ' "2": {"class_type": "StringLength", "inputs": {"string": "four"}},'
                        ' "3": {"class_type": "MathInt", "inputs": {"a": ["1", 0], "b": ["2", 0], "operation": "add"}},'
                        ' "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}}}')
    canvas.click_action("clear")
    drop_file(canvas, "from_api_client.png", "image/png", png_with_prompt_only(prompt))
    canvas.page.wait_for_function("() => document.querySelectorAll('.node').length === 4")
    assert canvas.link_count() == 3
    assert canvas.widget(2, "string").input_value() == "four"
    assert_laid_out_left_to_right(canvas)


def test_a_file_the_server_cannot_convert_shows_the_error(canvas, tmp_path):
    path = tmp_path / "plugin_missing.json"
    path.write_text(json.dumps({"1": {"class_type": "SomePluginNode", "inputs": {}}}))
    before = len(canvas.node_ids())
    canvas.page.set_input_files('[data-testid="load-file"]', str(path))
    canvas.page.wait_for_function("() => document.querySelector('[data-testid=message]').dataset.kind === 'error'")
    assert "SomePluginNode" in canvas.message() and "plugin_missing.json" in canvas.message()
    assert len(canvas.node_ids()) == before  # the graph on the canvas is left as it was


BYPASS_AND_MUTE = """
async () => {
  const { nodeFromSpec } = await import('/static/graph.js');
  const { toWorkflow } = await import('/static/workflow.js');
  const { api } = await import('/static/api.js');
  const app = window.latentloom;
  const graph = app.graph;
  graph.clear();
  const add = (type) => graph.addNode(nodeFromSpec(app.specs.get(type), null, [0, 0]));
  const empty = add('EmptyLatentImage');
  const upscale = add('LatentUpscaleBy');
  const sampler = add('KSampler');
  const muted = add('EmptyLatentImage');
  const decode = add('VAEDecode');
  graph.connect(empty.id, 0, upscale.id, 'samples');
  graph.connect(upscale.id, 0, sampler.id, 'latent_image');
  graph.connect(muted.id, 0, decode.id, 'samples');
  upscale.mode = 4;  // bypassed: passes its LATENT input through
  muted.mode = 2;    // muted: left out, and so are links from it
  const { prompt } = await api.convertWorkflow(toWorkflow(graph), 'api');
  return { ids: { empty: empty.id, upscale: upscale.id, sampler: sampler.id, muted: muted.id, decode: decode.id }, prompt };
}
"""


def test_the_canvas_graph_converts_on_the_server_with_bypass_and_mute(canvas):
    result = canvas.page.evaluate(BYPASS_AND_MUTE)
    ids = {k: str(v) for k, v in result["ids"].items()}
    prompt = result["prompt"]
    assert ids["upscale"] not in prompt and ids["muted"] not in prompt
    sampler = prompt[ids["sampler"]]
    assert sampler["class_type"] == "KSampler"
    assert sampler["inputs"]["latent_image"] == [ids["empty"], 0]
    assert sampler["inputs"]["steps"] == 20
    assert "model" not in sampler["inputs"]
    assert "samples" not in prompt[ids["decode"]]["inputs"]


def test_queue_refused_by_the_converter_shows_the_error(canvas):
    # A node whose class the server does not know stays on the canvas as saved; queueing names it.
    canvas.page.evaluate("""() => {
      const app = window.latentloom;
      const wf = app.snapshot();
      wf.nodes.push({ id: 99, type: 'GoneAwayNode', pos: [0, 0], size: [200, 80], mode: 0, inputs: [], outputs: [],
                      widgets_values: [] });
      app.applyWorkflow(wf);
    }""")
    canvas.click_action("queue")
    canvas.page.wait_for_function("() => document.querySelector('[data-testid=message]').dataset.kind === 'error'")
    assert "GoneAwayNode" in canvas.message()
