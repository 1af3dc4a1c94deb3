"""What flows on a GUIDER wire: a model and its conditioning, predicting x0 for the samplers (ComfyUI's guiders).

A guider's `sample` takes ComfyUI's arguments (noise, latent samples in LATENT units, a SAMPLER, sigmas) and returns
the sampled latent in LATENT units; the `callback` gets (step, denoised x0 in model units, x, total steps).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .guidance import GuidedDenoiser, read_conditioning
from .models import DiffusionModel
from .sampling import SamplerObject

GuiderCallback = Callable[[int, torch.Tensor, torch.Tensor, int], None]
# what an inpainting or InstructPix2Pix UNet reads where the conditioning gives it no image of its own: the latent
# being sampled ("latent_image", model units) and its denoise mask ("denoise_mask"), passed to each GuidedDenoiser
ImageInput = dict[str, Any]


class CFGGuider:
    """Classifier-free guidance over a positive and a negative conditioning (BasicGuider: positive only, cfg 1)."""

    def __init__(self, model: DiffusionModel, positive: Any, negative: Any = (), cfg: float = 1.0) -> None:
        self.model = model
        self.positive = read_conditioning(positive, "positive")
        self.negative = read_conditioning(negative, "negative")
        self.cfg = float(cfg)

    def denoiser(self, image: ImageInput | None = None) -> Callable[..., torch.Tensor]:
        return GuidedDenoiser(self.model, self.positive, self.negative, self.cfg, **(image or {}))

    def prepare(self) -> None:
        """Every model the guider runs, ready on its device."""
        self.model.prepare()

    def sample(self, noise: torch.Tensor, latent_image: torch.Tensor, sampler: SamplerObject, sigmas: torch.Tensor,
               denoise_mask: torch.Tensor | None = None, callback: GuiderCallback | None = None,
               disable_pbar: bool = False, seed: int | None = None) -> torch.Tensor:
        """Sample `latent_image` from `noise` over `sigmas`; the latent comes back unchanged for empty sigmas."""
        if len(sigmas) == 0:
            return latent_image
        model = self.model
        self.prepare()
        device, latent_format = model.device, model.latent_format
        samples = latent_image.float()
        mask = latent_mask(denoise_mask, samples.shape).to(device) if denoise_mask is not None else None
        total = len(sigmas) - 1

        def on_step(state: dict[str, Any]) -> None:
            if callback is not None:
                callback(state["i"], state["denoised"], state["x"], total)

        model_latent = latent_format.to_model(samples).to(device)
        denoiser = self.denoiser({"latent_image": model_latent, "denoise_mask": mask})
        try:
            out = sampler.sample(denoiser, model.schedule, sigmas.float().to(device), model_latent,
                                 noise.float().to(device), 0 if seed is None else seed, on_step, mask)
        finally:
            if isinstance(denoiser, GuidedDenoiser):
                denoiser.cleanup()
        return latent_format.from_model(out).float().cpu()


class DualCFGGuider(CFGGuider):
    """Guidance by two conditionings against a negative: cond2 steered away from the negative with cfg_cond2_negative
    and cond1 away from cond2 with cfg_conds; "nested" applies cfg_conds inside the negative guidance instead."""

    def __init__(self, model: DiffusionModel, cond1: Any, cond2: Any, negative: Any, cfg_conds: float,
                 cfg_cond2_negative: float, nested: bool = False) -> None:
        super().__init__(model, cond1, negative, cfg_conds)
        self.middle = read_conditioning(cond2, "cond2")
        self.cfg2 = float(cfg_cond2_negative)
        self.nested = nested

    def denoiser(self, image: ImageInput | None = None) -> Callable[..., torch.Tensor]:
        pair = GuidedDenoiser(self.model, self.positive, self.middle, 1.0, **(image or {}))
        negative = GuidedDenoiser(self.model, self.negative, [], 1.0, **(image or {}))
        cfg1, cfg2, nested = self.cfg, self.cfg2, self.nested

        def denoise(x: torch.Tensor, sigma: torch.Tensor, uncond_sink: dict | None = None,
                    **kwargs: Any) -> torch.Tensor:
            if uncond_sink is not None:  # CFG++: everything computed; the inner guidance's negative is reported
                cond1, cond2 = pair.predict_groups(x, sigma, 2)
                uncond = negative.predict_groups(x, sigma, 1)[0]
                uncond_sink["uncond"] = cond2 if nested else uncond
            elif not nested and math.isclose(cfg2, 1.0) and math.isclose(cfg1, 1.0):
                return pair.predict_groups(x, sigma, 1)[0]  # neither guidance changes the positive
            else:
                cond1, cond2 = pair.predict_groups(x, sigma, 2)
                if not nested and math.isclose(cfg2, 1.0):
                    return cond2 + (cond1 - cond2) * cfg1
                uncond = negative.predict_groups(x, sigma, 1)[0]
            if nested:
                return uncond + cfg2 * (cond2 + (cond1 - cond2) * cfg1 - uncond)
            return uncond + (cond2 - uncond) * cfg2 + (cond1 - cond2) * cfg1

        return denoise


class DualModelGuider(CFGGuider):
    """Classifier-free guidance with the negative predicted by another model (the positive model's own for the
    same model, which is ordinary CFG); at cfg 1 the negative model is not run."""

    def __init__(self, model: DiffusionModel, negative_model: DiffusionModel, positive: Any, negative: Any,
                 cfg: float) -> None:
        super().__init__(model, positive, negative, cfg)
        self.negative_model = negative_model

    def prepare(self) -> None:
        self.model.prepare()
        if not math.isclose(self.cfg, 1.0):
            self.negative_model.prepare()

    def denoiser(self, image: ImageInput | None = None) -> Callable[..., torch.Tensor]:
        positive = GuidedDenoiser(self.model, self.positive, [], 1.0, **(image or {}))
        negative = GuidedDenoiser(self.negative_model, self.negative, [], 1.0, **(image or {}))
        cfg = self.cfg

        def denoise(x: torch.Tensor, sigma: torch.Tensor, uncond_sink: dict | None = None,
                    **kwargs: Any) -> torch.Tensor:
            cond = positive.predict_groups(x, sigma, 1)[0]
            if uncond_sink is None and math.isclose(cfg, 1.0):
                return cond
            uncond = negative.predict_groups(x, sigma, 1)[0].to(cond.device)
            if uncond_sink is not None:
                uncond_sink["uncond"] = uncond
            return uncond + (cond - uncond) * cfg

        return denoise


def latent_mask(mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A pixel or latent mask [B?, H, W] resized (bilinear) to the latent and repeated over channels and batch."""
    mask = mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    mask = F.interpolate(mask, size=tuple(shape[-2:]), mode="bilinear")
    mask = mask.expand(-1, shape[1], -1, -1)
    if mask.shape[0] < shape[0]:
        mask = mask.repeat((shape[0] + mask.shape[0] - 1) // mask.shape[0], 1, 1, 1)
    return mask[:shape[0]]
