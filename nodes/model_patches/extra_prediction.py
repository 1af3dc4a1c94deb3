"""One more model call from inside a guidance hook: the x0 prediction for one conditioning, as the sampler makes it.

PAG and SAG ask the model again with changed attention or input (ComfyUI's comfy.samplers.calc_cond_batch). Until
that function is in our runtime, this runs the sampler's own GuidedDenoiser for the single conditioning.
"""
from __future__ import annotations

from typing import Any


def predict_conditioning(model: Any, conditioning: list, x: Any, sigma: Any, model_options: dict) -> Any:
    """x0 for `conditioning` (the entries a hook receives as "cond" or "uncond") at the noisy latent x and sigma,
    by `model` run with `model_options` (its patches and function wrapper)."""
    from ..runtime.guidance.cfg import GuidedDenoiser

    runner = model.clone()
    runner.model_options = model_options
    return GuidedDenoiser(runner, list(conditioning), [], 1.0).predict_groups(x, sigma, 1)[0]
