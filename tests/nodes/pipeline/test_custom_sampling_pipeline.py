"""SamplerCustom and SamplerCustomAdvanced through the engine on a tiny SD1 checkpoint: with the sampler and sigmas
KSampler would use they save KSampler's image bit for bit, and their x0 output is what the last step predicted."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.fixtures.example_workflows import example_prompt

SEED, CFG = 11, 6.0


def ksampler_graph(checkpoint: str, sampler: str, scheduler: str, steps: int, denoise: float = 1.0) -> dict:
    prompt = example_prompt("text_to_image.json")
    prompt["4"]["inputs"]["ckpt_name"] = checkpoint
    prompt["3"]["inputs"].update(seed=SEED, steps=steps, cfg=CFG, sampler_name=sampler, scheduler=scheduler,
                                 denoise=denoise)
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["6"]["inputs"]["text"] = "a lighthouse at dusk"
    prompt["7"]["inputs"]["text"] = "blurry"
    return prompt


def custom_graph(checkpoint: str, sampler: str, sigmas_node: dict, output: int = 0) -> dict:
    """The same graph with node 3 a SamplerCustom fed by KSamplerSelect and `sigmas_node`."""
    prompt = ksampler_graph(checkpoint, sampler, "normal", 1)
    ks = prompt["3"]["inputs"]
    prompt["20"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": sampler}}
    prompt["21"] = sigmas_node
    prompt["3"] = {"class_type": "SamplerCustom", "inputs": {
        "model": ks["model"], "add_noise": True, "noise_seed": SEED, "cfg": CFG, "positive": ks["positive"],
        "negative": ks["negative"], "sampler": ["20", 0], "sigmas": ["21", 0], "latent_image": ks["latent_image"]}}
    prompt["8"]["inputs"]["samples"] = ["3", output]
    return prompt


def advanced_graph(checkpoint: str, sampler: str, scheduler: str, steps: int, denoise: float) -> dict:
    """node 3 a SamplerCustomAdvanced with RandomNoise, CFGGuider, KSamplerSelect and BasicScheduler."""
    prompt = custom_graph(checkpoint, sampler, {"class_type": "BasicScheduler", "inputs": {
        "model": ["4", 0], "scheduler": scheduler, "steps": steps, "denoise": denoise}})
    custom = prompt["3"]["inputs"]
    prompt["22"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": SEED}}
    prompt["23"] = {"class_type": "CFGGuider", "inputs": {"model": custom["model"], "positive": custom["positive"],
                                                          "negative": custom["negative"], "cfg": CFG}}
    prompt["3"] = {"class_type": "SamplerCustomAdvanced", "inputs": {
        "noise": ["22", 0], "guider": ["23", 0], "sampler": ["20", 0], "sigmas": ["21", 0],
        "latent_image": custom["latent_image"]}}
    return prompt


def saved_pixels(studio, prompt: dict) -> np.ndarray:
    result = studio.engine.run(prompt)
    assert result.status == "success", result.error
    saved = result.outputs["9"]["images"][0]
    with Image.open(studio.base / "output" / saved["filename"]) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("sampler, steps", [("euler_ancestral", 1), ("dpmpp_2m", 10), ("ddim", 10)])
def test_sampler_custom_with_sd_turbo_sigmas_saves_ksamplers_image(studio, sampler, steps):
    """SDTurboScheduler's timesteps 999, 899, ... are KSampler's `simple` schedule for 1 and 10 steps."""
    name = studio.tiny["sd1"].path.name
    turbo = {"class_type": "SDTurboScheduler", "inputs": {"model": ["4", 0], "steps": steps, "denoise": 1.0}}
    expected = saved_pixels(studio, ksampler_graph(name, sampler, "simple", steps))
    got = saved_pixels(studio, custom_graph(name, sampler, turbo))
    assert np.array_equal(got, expected)
    assert expected.std() > 5  # an image, not a flat field


def test_sampler_custom_advanced_with_basic_scheduler_saves_ksamplers_image_at_partial_denoise(studio):
    name = studio.tiny["sd1"].path.name
    expected = saved_pixels(studio, ksampler_graph(name, "euler_ancestral", "karras", 4, denoise=0.6))
    got = saved_pixels(studio, advanced_graph(name, "euler_ancestral", "karras", 4, denoise=0.6))
    assert np.array_equal(got, expected)


def test_the_denoised_output_of_a_last_euler_step_to_zero_is_the_output(studio):
    """Euler's last step to sigma 0 lands exactly on the model's x0 prediction, which denoised_output carries."""
    name = studio.tiny["sd1"].path.name
    sigmas = {"class_type": "BasicScheduler", "inputs": {"model": ["4", 0], "scheduler": "karras", "steps": 3,
                                                         "denoise": 1.0}}
    sampled = saved_pixels(studio, custom_graph(name, "euler", sigmas, output=0))
    denoised = saved_pixels(studio, custom_graph(name, "euler", sigmas, output=1))
    assert np.abs(sampled - denoised).max() <= 1
    # Stopping one step early (SplitSigmas) leaves noise in the output but not in the x0 prediction.
    prompt = custom_graph(name, "euler", sigmas, output=0)
    prompt["24"] = {"class_type": "SplitSigmas", "inputs": {"sigmas": ["21", 0], "step": 2}}
    prompt["3"]["inputs"]["sigmas"] = ["24", 0]
    noisy = saved_pixels(studio, prompt)
    prompt["8"]["inputs"]["samples"] = ["3", 1]
    early_x0 = saved_pixels(studio, prompt)
    assert np.abs(noisy - early_x0).mean() > 2 * np.abs(sampled - early_x0).mean()
