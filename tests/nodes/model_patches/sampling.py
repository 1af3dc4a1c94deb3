"""A short sampling run on the tiny SD1 UNet, for comparing a patched MODEL with the unpatched one, and a way to
count the calls of the patch functions a node set."""
from __future__ import annotations

from typing import Any

import torch

from nodes.runtime.models import DiffusionModel
from nodes.runtime.sample_latent import sample_latent
from tests.nodes.model_patches.predictions import cond

SAME = {"rtol": 1e-4, "atol": 1e-3}  # float rounding carried through the steps; patches change far more


def sampled(model: DiffusionModel, size: int = 8, cfg: float = 5.0, steps: int = 2) -> torch.Tensor:
    """Euler over the normal schedule from seeded noise, positive cond(1), negative cond(2)."""
    latent = {"samples": torch.zeros(1, 4, size, size)}
    return sample_latent(model, latent, cond(1), cond(2), seed=3, steps=steps, cfg=cfg, sampler_name="euler",
                         scheduler="normal")["samples"]


def count_patch_calls(model: DiffusionModel) -> dict[str, int]:
    """Wrap every UNet patch and post-cfg function of `model` (in place) so that their calls are counted by name."""
    counts: dict[str, int] = {}

    def counted(name: str, function: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            counts[name] = counts.get(name, 0) + 1
            return function(*args, **kwargs)
        return call

    options = model.model_options
    transformer = options["transformer_options"]
    for name, functions in transformer.get("patches", {}).items():
        transformer["patches"][name] = [counted(name, f) for f in functions]
    for name, replaces in transformer.get("patches_replace", {}).items():
        transformer["patches_replace"][name] = {key: counted(name, f) for key, f in replaces.items()}
    if "sampler_post_cfg_function" in options:
        options["sampler_post_cfg_function"] = [counted("post_cfg", f) for f in options["sampler_post_cfg_function"]]
    return counts
