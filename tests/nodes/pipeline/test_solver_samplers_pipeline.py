"""SA-Solver through the engine on a tiny SD1 checkpoint: KSampler by name, SamplerCustom with KSamplerSelect, and the
SamplerSASolver node at its defaults save the same image (so KSampler hands sa_solver the model's schedule, and the
node's defaults are KSampler's)."""
from __future__ import annotations

import numpy as np

from tests.nodes.pipeline.test_custom_sampling_pipeline import custom_graph, ksampler_graph, saved_pixels

STEPS = 3


def with_sampler_node(name: str, sampler: str, node: str, inputs: dict) -> dict:
    prompt = custom_graph(name, sampler, {"class_type": "BasicScheduler", "inputs": {
        "model": ["4", 0], "scheduler": "karras", "steps": STEPS, "denoise": 1.0}})
    if node != "KSamplerSelect":
        prompt["20"] = {"class_type": node, "inputs": inputs}
    return prompt


def test_sa_solver_by_name_through_sampler_custom_and_from_its_node(studio):
    name = studio.tiny["sd1"].path.name
    expected = saved_pixels(studio, ksampler_graph(name, "sa_solver", "karras", STEPS))
    assert expected.std() > 5
    assert np.array_equal(saved_pixels(studio, with_sampler_node(name, "sa_solver", "KSamplerSelect", {})), expected)
    defaults = {"model": ["4", 0], "eta": 1.0, "sde_start_percent": 0.2, "sde_end_percent": 0.8, "s_noise": 1.0,
                "predictor_order": 3, "corrector_order": 4, "use_pece": False, "simple_order_2": False}
    assert np.array_equal(saved_pixels(studio, with_sampler_node(name, "sa_solver", "SamplerSASolver", defaults)),
                          expected)

