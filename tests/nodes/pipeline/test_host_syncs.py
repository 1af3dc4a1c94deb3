"""The sampling loop reads no tensor value on the host per step: on a GPU each such read (`.item()`, `float(t)`,
`bool(t)`, `t.tolist()`) waits for every queued kernel, so the GPU idles once per step.

On the CPU these reads cost nothing, but they are the same calls: counted inside the sampling loop
(`SamplerObject.sample`: the sampler, the guided denoiser, the UNet, progress, previews and interrupt checks) during
whole engine runs of the text-to-image graph, they must not grow with the step count. (The sigmas are computed on the
CPU before the loop, reading floats there is free.)
"""
from __future__ import annotations

from collections import Counter

import pytest
import torch

from tests.fixtures.example_workflows import example_prompt
from tests.fixtures.host_reads import counting_host_reads


def text_to_image(checkpoint: str, steps: int, sampler: str = "euler", seed: int = 5) -> dict:
    prompt = example_prompt("text_to_image.json")
    prompt["4"]["inputs"]["ckpt_name"] = checkpoint
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["3"]["inputs"].update(steps=steps, sampler_name=sampler, seed=seed)
    return prompt


def reads_in_run(engine, prompt: dict) -> Counter:
    with counting_host_reads() as counts:
        result = engine.run(prompt)
    assert result.status == "success", result.error
    assert "3" in result.executed
    return counts


@pytest.mark.parametrize("sampler", ["euler", "euler_ancestral", "dpmpp_2m"])
def test_host_reads_do_not_grow_with_the_step_count(studio, sampler):
    engine, checkpoint = studio.engine, studio.tiny["sd1"].path.name
    previews = []
    unsubscribe = engine.events.subscribe(lambda event, data: previews.append(event) if event == "preview" else None)
    try:
        engine.run(text_to_image(checkpoint, 2, sampler, seed=1))  # loads and caches the checkpoint and the prompts
        few = reads_in_run(engine, text_to_image(checkpoint, 3, sampler))
        many = reads_in_run(engine, text_to_image(checkpoint, 7, sampler))
    finally:
        unsubscribe()
    grown = {key: (few.get(key, 0), count) for key, count in many.items() if count > few.get(key, 0)}
    assert not grown, f"host reads per step (method, caller): (3 steps, 7 steps) {grown}"
    assert previews.count("preview") >= 2 + 3 + 7 - 3  # previews still come (the last of a run may be dropped)


def test_step_previews_on_the_cpu_hand_on_each_steps_own_preview():
    import numpy as np

    from nodes.runtime.models.latent_formats import SD1_FORMAT
    from nodes.runtime.step_previews import StepPreviews

    previews = StepPreviews(SD1_FORMAT)
    for seed in range(3):
        latent = torch.randn(1, 4, 8, 16, generator=torch.Generator().manual_seed(seed))
        image = previews.step(latent)
        assert image.size == (16, 8)
        assert np.array_equal(np.asarray(image), SD1_FORMAT.preview_rgb(latent).numpy())


@pytest.mark.parametrize("distilled", [False, True])
def test_the_training_timestep_is_found_on_the_sigmas_device(distilled):
    """The UNet's timestep is looked up where sigma lives: a copy of sigma to the host (and back) each step would
    wait for a GPU. A tensor on the meta device has no values, so any such copy raises."""
    from nodes.runtime.sampling import sd_schedule
    from nodes.runtime.sampling.model_schedules import DistilledSchedule

    schedule = DistilledSchedule(sd_schedule()) if distilled else sd_schedule()
    on_meta = schedule.timestep(torch.tensor([14.6, 0.03], device="meta"))
    assert on_meta.device.type == "meta" and on_meta.shape == (2,)
    ends = torch.stack([schedule.sigmas[-1], schedule.sigmas[0]])
    expected = [999, 19] if distilled else [999, 0]
    assert schedule.timestep(ends).tolist() == expected
