"""Perp-Neg (Armandpour et al. 2023): the negative prompt's effect only where it is perpendicular to the positive's,
both measured from an empty prompt's prediction; as a guider and as the maths ComfyUI's PerpNeg cfg function uses."""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from .guidance import read_conditioning
from .guidance.cond_batch import GroupPredictor
from .guiders import CFGGuider, ImageInput
from .models import DiffusionModel


def perp_neg(positive: torch.Tensor, negative: torch.Tensor, empty: torch.Tensor, neg_scale: float,
             cfg: float) -> torch.Tensor:
    """The guided x0: empty + cfg (p - neg_scale * n_perp), p and n the positive's and negative's offsets from the
    empty prediction, n_perp n less its projection on p (over the whole batch, as ComfyUI measures it)."""
    pos, neg = positive - empty, negative - empty
    perpendicular = neg - ((neg * pos).sum() / torch.norm(pos) ** 2) * pos
    return empty + cfg * (pos - perpendicular * neg_scale)


class PerpNegGuider(CFGGuider):
    """Perp-Neg guidance of a positive against a negative, measured from an empty conditioning; the model's pre-
    and post-cfg patches apply as in ComfyUI's Guider_PerpNeg."""

    def __init__(self, model: DiffusionModel, positive: Any, negative: Any, empty: Any, cfg: float,
                 neg_scale: float) -> None:
        super().__init__(model, positive, negative, cfg)
        self.empty = read_conditioning(empty, "empty_conditioning")
        self.neg_scale = float(neg_scale)

    def denoiser(self, image: ImageInput | None = None) -> Callable[..., torch.Tensor]:
        options = self.model.model_options
        negative, empty = self.negative, self.empty
        if not options.get("disable_cfg1_optimization", False) and math.isclose(self.neg_scale, 0.0):
            negative = []  # it cannot matter: not computed (zeros), nor the empty one when cfg is 1 as well
            if math.isclose(self.cfg, 1.0):
                empty = []
        return PerpNegDenoiser(self, [self.positive, negative, empty], **(image or {}))


class PerpNegDenoiser(GroupPredictor):
    """D(x, sigma) of a PerpNegGuider: the three groups predicted together, then the model's hooks around Perp-Neg."""

    def __init__(self, guider: PerpNegGuider, groups: list, **image: Any) -> None:
        super().__init__(guider.model, groups, **image)
        self.guider = guider
        self.conds = [group or None for group in groups]  # as ComfyUI's hooks see them: None where not computed

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, uncond_sink: dict | None = None,
                 **kwargs: Any) -> torch.Tensor:
        cfg, conds, options = self.guider.cfg, self.conds, self.model.model_options  # cfg read each step: a
        # predict_noise wrapper (CFGOverride) may set it
        sigma = sigma.reshape(-1).expand(x.shape[0]) if sigma.numel() == 1 else sigma.reshape(-1)
        shared = {"cond_scale": cfg, "timestep": sigma, "input": x, "sigma": sigma, "model": self.model,
                  "model_options": options}
        out = self.predict_groups(x, sigma, 3)
        for function in options.get("sampler_pre_cfg_function", []):
            out = function({**shared, "conds": conds, "conds_out": out})
        positive, negative, empty = out
        if uncond_sink is not None:
            uncond_sink["uncond"] = negative
        result = perp_neg(positive, negative, empty, self.guider.neg_scale, cfg)
        for function in options.get("sampler_post_cfg_function", []):
            result = function({**shared, "denoised": result, "cond": conds[0], "uncond": conds[1],
                               "cond_denoised": positive, "uncond_denoised": negative, "empty_cond": conds[2],
                               "empty_cond_denoised": empty})
        return result
