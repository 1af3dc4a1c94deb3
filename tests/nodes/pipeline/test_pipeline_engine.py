"""The standard text-to-image graph through the engine: the saved PNG, one progress event per step with a preview,
and a second run with only the seed changed that loads no checkpoint and encodes no text."""
from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from graph_engine import events
from tests.nodes.pipeline import reference_loop as ref
from tests.fixtures.example_workflows import example_prompt

STEPS = 4


def graph(checkpoint: str, seed: int) -> dict:
    prompt = example_prompt("text_to_image.json")
    prompt["4"]["inputs"]["ckpt_name"] = checkpoint
    prompt["3"]["inputs"].update(seed=seed, steps=STEPS, cfg=6.0)
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["6"]["inputs"]["text"] = "a lighthouse at dusk"
    prompt["7"]["inputs"]["text"] = "blurry"
    return prompt


def test_text_to_image_graph_saves_the_reference_image_and_reruns_only_the_sampler(studio):
    tiny = studio.tiny["sd1"]
    seen = []
    unsubscribe = studio.engine.events.subscribe(lambda event, data: seen.append((event, data)))
    try:
        first = studio.engine.run(graph(tiny.path.name, seed=7))
        second = studio.engine.run(graph(tiny.path.name, seed=8))
    finally:
        unsubscribe()
    assert first.status == second.status == "success", (first.error, second.error)

    context = lambda text: ref.clip_hidden(tiny.text_encoders[0], ref.token_ids(text, pad=ref.EOS), -1, True)  # noqa
    latent = ref.euler_cfg(tiny.unet, noise=ref.initial_noise((1, 4, 8, 8), 7), sigmas=ref.normal_sigmas(STEPS),
                           cond=context("a lighthouse at dusk"), uncond=context("blurry"), cfg=6.0)
    with torch.no_grad():
        pixels = ((tiny.vae.decode(latent).sample + 1) / 2).clamp(0, 1)[0].movedim(0, -1)
    expected = (pixels.numpy() * 255).round()
    saved = first.outputs["9"]["images"][0]
    with Image.open(studio.base / "output" / saved["filename"]) as image:
        got = np.asarray(image.convert("RGB"), dtype=np.float64)
        assert json.loads(image.text["prompt"])["3"]["inputs"]["seed"] == 7
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1.0  # rounding of one 8-bit level

    progress = [data for event, data in seen if event == events.PROGRESS and data["node"] == "3"]
    previews = [data for event, data in seen if event == events.PREVIEW and data["node"] == "3"]
    assert [p["value"] for p in progress] == [1, 2, 3, 4] * 2 and {p["max"] for p in progress} == {STEPS}
    assert len(previews) == 2 * STEPS and previews[0]["image"].size == (8, 8)

    assert set(second.cached) >= {"4", "5", "6", "7"}
    assert set(second.executed) == {"3", "8", "9"}
    assert second.outputs["9"]["images"][0]["filename"] != saved["filename"]


def denormals_survive() -> bool:
    return bool(torch.tensor(1e-310, dtype=torch.float64) * 1.0 != 0)


def test_a_run_in_this_thread_leaves_its_floats_as_they_were(studio):
    """Sampling flushes denormals while a node computes on the CPU; the calling thread gets IEEE floats back."""
    assert denormals_survive()
    result = studio.engine.run(graph(studio.tiny["sd1"].path.name, seed=21))
    assert result.status == "success", result.error
    assert denormals_survive()
