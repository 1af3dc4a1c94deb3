"""ComfyUI's `latent_preview` for plugins: the per-step callback samplers call, reporting progress on the running
node with Latentloom's latent-to-RGB preview."""
from __future__ import annotations

from typing import Any, Callable

import comfy.utils
from nodes.comfy_compat.not_offered import attribute_not_offered


def _latent_format(model: Any) -> Any:
    """The latent format of Latentloom's MODEL, or of a ComfyUI-style one (`model.model.latent_format`)."""
    found = getattr(model, "latent_format", None)
    if found is None:
        found = getattr(getattr(model, "model", None), "latent_format", None)
    return found


def prepare_callback(model: Any, steps: int, x0_output_dict: dict | None = None) -> Callable[..., None]:
    """`callback(step, x0, x, total_steps)`: progress step + 1 of total_steps on the running node, with a preview of
    the denoised latent x0 (model space) when the model's latent format is known; x0 kept in x0_output_dict["x0"]."""
    latent_format = _latent_format(model)
    bar = comfy.utils.ProgressBar(steps)
    previews = None
    if latent_format is not None:
        from nodes.runtime.step_previews import StepPreviews

        previews = StepPreviews(latent_format)  # read without waiting for a GPU: may be an earlier step's

    def callback(step: int, x0: Any, x: Any, total_steps: int) -> None:
        if x0_output_dict is not None:
            x0_output_dict["x0"] = x0
        preview = previews.step(x0) if previews is not None and x0 is not None else None
        bar.update_absolute(step + 1, total_steps, preview)

    return callback


__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
