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
from .models.patching import cfg_function
from .models.wrappers import with_predict_noise_wrappers
from .sampling import SamplerObject
from .sampling.ksampler import MaskFunction

GuiderCallback = Callable[[int, torch.Tensor, torch.Tensor, int], None]
# what an inpainting or InstructPix2Pix UNet reads where the conditioning gives it no image of its own: the latent
# being sampled ("latent_image", model units) and its denoise mask ("denoise_mask"), passed to each GuidedDenoiser
# with the sampling seed ("seed", from which unCLIP's image-embedding noise is drawn)
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

    @property
    def inner_model(self) -> Any:
        """ComfyUI's guider.inner_model (the model's `model` view), which denoise-mask functions read; a guider may
        set its own while it samples (comfy_compat's CFGGuider for a plugin's predict_noise)."""
        return self.__dict__.get("_inner_model") or self.model.model

    @inner_model.setter
    def inner_model(self, value: Any) -> None:
        self.__dict__["_inner_model"] = value

    def mask_function(self, sigmas: torch.Tensor) -> MaskFunction | None:
        """The model's denoise_mask_function with ComfyUI's extra options (this guider, the sigmas), or None."""
        function = self.model.model_options.get("denoise_mask_function")
        if function is None:
            return None
        return lambda sigma, mask: function(sigma, mask, extra_options={"model": self, "sigmas": sigmas})

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
        guided = self.denoiser({"latent_image": model_latent, "denoise_mask": mask, "seed": seed})
        denoiser = with_predict_noise_wrappers(self, guided)
        sigmas = sigmas.float().to(device)
        try:
            out = sampler.sample(denoiser, model.schedule, sigmas, model_latent, noise.float().to(device),
                                 0 if seed is None else seed, on_step, mask, self.mask_function(sigmas))
        finally:
            if isinstance(guided, GuidedDenoiser):
                guided.cleanup()
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
        """ComfyUI's Guider_DualCFG: the pairs combined by the model's cfg_function (its cfg and post-cfg hooks);
        at cfg_cond2_negative 1 the negative is not computed (nor cond2 when cfg_conds is 1 too), unless a patch
        asks for it or the guidance is nested."""
        model = self.model
        pair = GuidedDenoiser(model, self.positive, self.middle, 1.0, **(image or {}))
        negative = GuidedDenoiser(model, self.negative, [], 1.0, **(image or {}))
        cfg1, cfg2, nested = self.cfg, self.cfg2, self.nested
        conds = (pair.groups[0], pair.groups[1], negative.groups[0])

        def denoise(x: torch.Tensor, sigma: torch.Tensor, uncond_sink: dict | None = None,
                    **kwargs: Any) -> torch.Tensor:
            skip = not (nested or uncond_sink is not None or model.model_options.get("disable_cfg1_optimization"))
            skip_negative = skip and math.isclose(cfg2, 1.0)
            if skip_negative and math.isclose(cfg1, 1.0):
                cond1 = pair.predict_groups(x, sigma, 1)[0]
                cond2 = torch.zeros_like(cond1)
            else:
                cond1, cond2 = pair.predict_groups(x, sigma, 2)
            uncond = torch.zeros_like(cond1) if skip_negative else negative.predict_groups(x, sigma, 1)[0]
            if uncond_sink is not None:  # CFG++: the inner guidance's negative is reported
                uncond_sink["uncond"] = cond2 if nested else uncond
            if nested:
                text = cfg_function(model, cond1, cond2, cfg1, x, sigma, conds[0], conds[1])
                return uncond + cfg2 * (text - uncond)
            return cfg_function(model, cond2, uncond, cfg2, x, sigma, conds[1], conds[2]) + (cond1 - cond2) * cfg1

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
        model = self.model
        positive = GuidedDenoiser(model, self.positive, [], 1.0, **(image or {}))
        negative = GuidedDenoiser(self.negative_model, self.negative, [], 1.0, **(image or {}))
        cfg = self.cfg

        def denoise(x: torch.Tensor, sigma: torch.Tensor, uncond_sink: dict | None = None,
                    **kwargs: Any) -> torch.Tensor:
            cond = positive.predict_groups(x, sigma, 1)[0]
            if uncond_sink is None and math.isclose(cfg, 1.0) and not model.model_options.get(
                    "disable_cfg1_optimization"):
                return cond
            uncond = negative.predict_groups(x, sigma, 1)[0].to(cond.device)
            if uncond_sink is not None:
                uncond_sink["uncond"] = uncond
            return cfg_function(model, cond, uncond, cfg, x, sigma, positive.groups[0], negative.groups[0])

        return denoise


def latent_mask(mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """A pixel or latent mask [B?, H, W] resized (bilinear) to the latent and repeated over channels and batch."""
    mask = mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    mask = F.interpolate(mask, size=tuple(shape[-2:]), mode="bilinear")
    mask = mask.expand(-1, shape[1], -1, -1)
    if mask.shape[0] < shape[0]:
        mask = mask.repeat((shape[0] + mask.shape[0] - 1) // mask.shape[0], 1, 1, 1)
    return mask[:shape[0]]
