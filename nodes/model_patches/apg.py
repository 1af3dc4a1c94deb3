"""ComfyUI's comfy_extras.nodes_apg: Adaptive Projected Guidance (Sadat et al. 2024), a pre-cfg patch."""
from __future__ import annotations

from typing import Any

PYTHON_MODULE = "comfy_extras.nodes_apg"
ETA_TOOLTIP = "Controls the scale of the parallel guidance vector. Default CFG behavior at a setting of 1."
NORM_TOOLTIP = "Normalize guidance vector to this value, normalization disable at a setting of 0."
MOMENTUM_TOOLTIP = "Controls a running average of guidance during diffusion, disabled at a setting of 0."


class APG:
    CATEGORY = "model/sampling/custom"
    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL", {}),
            "eta": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01, "tooltip": ETA_TOOLTIP,
                              "advanced": True}),
            "norm_threshold": ("FLOAT", {"default": 5.0, "min": 0.0, "max": 50.0, "step": 0.1,
                                         "tooltip": NORM_TOOLTIP, "advanced": True}),
            "momentum": ("FLOAT", {"default": 0.0, "min": -5.0, "max": 1.0, "step": 0.01,
                                   "tooltip": MOMENTUM_TOOLTIP, "advanced": True})}}

    def patch(self, model: Any, eta: float, norm_threshold: float, momentum: float):
        patched = model.clone()
        patched.set_model_sampler_pre_cfg_function(ProjectedGuidance(float(eta), float(norm_threshold),
                                                                     float(momentum)))
        return (patched,)


class ProjectedGuidance:
    """The pre-cfg function: the guidance (cond - uncond), averaged over steps with `momentum`, capped at
    `norm_threshold` per sample, split into its parts parallel and orthogonal to the positive's x0; the parallel part
    is weighted by `eta`. The positive is rewritten so that the sampler's CFG gives uncond + cfg * that guidance.

    The running average lives here, one per patched MODEL, and restarts when sigma rises (a new sampling run)."""

    def __init__(self, eta: float, norm_threshold: float, momentum: float) -> None:
        self.eta, self.norm_threshold, self.momentum = eta, norm_threshold, momentum
        self.running = None
        self.last_sigma: float | None = None

    def __call__(self, args: dict[str, Any]) -> list:
        import torch

        outputs = args["conds_out"]
        if len(outputs) == 1:
            return outputs
        cond, uncond, scale = outputs[0], outputs[1], args["cond_scale"]
        sigma = float(args["sigma"][0])
        if self.last_sigma is not None and sigma > self.last_sigma:
            self.running = None
        self.last_sigma = sigma
        guidance = cond - uncond
        if self.momentum != 0:
            self.running = guidance if self.running is None else self.momentum * self.running + guidance
            guidance = self.running
        dims = [-1, -2, -3]
        if self.norm_threshold > 0:
            norm = guidance.norm(p=2, dim=dims, keepdim=True)
            guidance = guidance * torch.minimum(torch.ones_like(norm), self.norm_threshold / norm)
        direction = torch.nn.functional.normalize(cond, dim=dims)
        parallel = (guidance * direction).sum(dim=dims, keepdim=True) * direction
        guidance = (guidance - parallel) + self.eta * parallel
        return [uncond + guidance + (cond - uncond) / scale, uncond, *outputs[2:]]


NODE_CLASS_MAPPINGS = {"APG": APG}
NODE_DISPLAY_NAME_MAPPINGS = {"APG": "Adaptive Projected Guidance"}
