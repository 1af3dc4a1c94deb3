"""The JS conversion to API format, run in the page on the server's real node list."""

CONVERT = """
async () => {
  const { nodeFromSpec } = await import('/static/graph.js');
  const { toApiPrompt } = await import('/static/apiformat.js');
  const { typesMatch } = await import('/static/types.js');
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
  return {
    ids: { empty: empty.id, upscale: upscale.id, sampler: sampler.id, muted: muted.id, decode: decode.id },
    prompt: toApiPrompt(graph),
    types: [typesMatch('LATENT', 'MODEL'), typesMatch('*', 'MODEL'), typesMatch('IMAGE,MASK', 'MASK'), typesMatch('INT', 'FLOAT,STRING')],
  };
}
"""


def test_bypass_mute_and_type_rules(canvas):
    result = canvas.page.evaluate(CONVERT)
    ids = {k: str(v) for k, v in result["ids"].items()}
    prompt = result["prompt"]
    assert ids["upscale"] not in prompt and ids["muted"] not in prompt
    sampler = prompt[ids["sampler"]]
    assert sampler["class_type"] == "KSampler"
    assert sampler["inputs"]["latent_image"] == [ids["empty"], 0]
    assert sampler["inputs"]["steps"] == 20 and sampler["_meta"]["title"] == "KSampler"
    assert "model" not in sampler["inputs"]
    assert "samples" not in prompt[ids["decode"]]["inputs"]
    assert result["types"] == [False, True, True, False]
