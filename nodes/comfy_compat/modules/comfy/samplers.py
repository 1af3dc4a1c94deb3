"""ComfyUI's `comfy.samplers` for plugins, over Latentloom's sampler runtime: the sampler and scheduler names,
`KSampler` (what the KSampler node runs), `sampler_object`/`ksampler` and `KSAMPLER` (the SAMPLER values, incl. one
made from a plugin's own k-diffusion-style sampler function), `calculate_sigmas`, `CFGGuider` (which a plugin may
subclass, overriding `predict_noise` with `calc_cond_batch` / `sampling_function`) and `sample`.

Sampling gives what the KSampler and SamplerCustom nodes give for the same inputs: they run the same code.
A sampler function gets ComfyUI's arguments, `f(model, x, sigmas, extra_args=..., callback=..., **options)`:
`model(x, sigma_per_sample, **extra_args)` is the guided x0 prediction and `callback` takes ComfyUI's dict
({"i", "x", "sigma", "denoised"}). Importing this module for its name lists loads no torch.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping

from nodes.comfy_compat.not_offered import attribute_not_offered
from nodes.runtime.sampler_names import SAMPLER_NAMES as _SAMPLER_NAMES
from nodes.runtime.sampler_names import SCHEDULER_NAMES as _SCHEDULER_NAMES

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# lists, as ComfyUI has them: plugins extend them with `+`
SAMPLER_NAMES: list[str] = list(_SAMPLER_NAMES)
SCHEDULER_NAMES: list[str] = list(_SCHEDULER_NAMES)
KSAMPLER_NAMES: list[str] = [name for name in SAMPLER_NAMES if name not in ("ddim", "uni_pc", "uni_pc_bh2")]


def calculate_sigmas(model_sampling: Any, scheduler_name: str, steps: int) -> "torch.Tensor":
    """The scheduler's sigmas for `steps` steps (and a final 0); `model_sampling` is a MODEL's schedule or
    model_sampling object."""
    from nodes.comfy_compat import sampling

    return sampling.calculate_sigmas(model_sampling, scheduler_name, steps)


def sampler_object(name: str) -> Any:
    """The SAMPLER the KSampler node means by `name`."""
    from nodes.comfy_compat import sampling

    return sampling.sampler_object(name)


def ksampler(sampler_name: str, extra_options: Mapping[str, Any] | None = None,
             inpaint_options: Mapping[str, Any] | None = None) -> Any:
    """A SAMPLER running the named sampler function with options (e.g. {"eta": 0.5, "s_noise": 1.0})."""
    from nodes.comfy_compat import sampling

    return sampling.sampler_object(sampler_name, extra_options or {}, inpaint_options or {})


def sample(model: Any, noise: "torch.Tensor", positive: Any, negative: Any, cfg: float, device: Any, sampler: Any,
           sigmas: "torch.Tensor", model_options: Mapping | None = None, latent_image: "torch.Tensor | None" = None,
           denoise_mask: "torch.Tensor | None" = None, callback: Callable | None = None, disable_pbar: bool = False,
           seed: int | None = None) -> "torch.Tensor":
    """CFG sampling of `model` with a SAMPLER over `sigmas`; the model's own options apply (`model_options` is
    ComfyUI's copy of them)."""
    from nodes.comfy_compat import sampling

    return sampling.sample_with_conds(model, noise, positive, negative, cfg, sampler, sigmas, latent_image,
                                      denoise_mask, callback, disable_pbar, seed)


def calc_cond_batch(model: Any, conds: list[Any], x_in: "torch.Tensor", timestep: "torch.Tensor",
                    model_options: Mapping | None = None) -> list["torch.Tensor"]:
    """Each conditioning's x0 prediction (for a CFGGuider subclass's predict_noise, on its `inner_model`)."""
    from nodes.comfy_compat import sampling

    return sampling.calc_cond_batch(model, conds, x_in, timestep, model_options)


def sampling_function(model: Any, x: "torch.Tensor", timestep: "torch.Tensor", uncond: Any, cond: Any,
                      cond_scale: float, model_options: Mapping | None = None, seed: int | None = None
                      ) -> "torch.Tensor":
    """The CFG x0 prediction through the model's cfg hooks (on a guider's `inner_model`, or a MODEL)."""
    from nodes.comfy_compat import sampling

    return sampling.sampling_function(model, x, timestep, uncond, cond, cond_scale, model_options, seed)


def cfg_function(model: Any, cond_pred: "torch.Tensor", uncond_pred: "torch.Tensor", cond_scale: float,
                 x: "torch.Tensor", timestep: "torch.Tensor", model_options: Mapping | None = None, cond: Any = None,
                 uncond: Any = None) -> "torch.Tensor":
    """Two x0 predictions combined by the model's cfg function (or plain CFG), then its post-cfg functions."""
    from nodes.comfy_compat import sampling

    return sampling.cfg_function(model, cond_pred, uncond_pred, cond_scale, x, timestep, model_options, cond, uncond)


class KSampler:
    """What the KSampler node runs: sigmas from a scheduler, steps and denoise, then CFG sampling."""

    SCHEDULERS = SCHEDULER_NAMES
    SAMPLERS = SAMPLER_NAMES
    DISCARD_PENULTIMATE_SIGMA_SAMPLERS = {"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"}

    def __init__(self, model: Any, steps: int, device: Any, sampler: str | None = None,
                 scheduler: str | None = None, denoise: float | None = None,
                 model_options: Mapping | None = None) -> None:
        if scheduler not in self.SCHEDULERS:
            log.warning("KSampler: unknown scheduler %r, using %s (as ComfyUI does)", scheduler, self.SCHEDULERS[0])
            scheduler = self.SCHEDULERS[0]
        if sampler not in self.SAMPLERS:
            log.warning("KSampler: unknown sampler %r, using %s (as ComfyUI does)", sampler, self.SAMPLERS[0])
            sampler = self.SAMPLERS[0]
        self.model, self.device = model, device
        self.sampler, self.scheduler = sampler, scheduler
        self.model_options = model_options if model_options is not None else model.model_options
        self.set_steps(steps, denoise)
        self.denoise = denoise

    def calculate_sigmas(self, steps: int) -> "torch.Tensor":
        from nodes.comfy_compat import sampling

        return sampling.ksampler_sigmas_for(self.model, self.scheduler, steps, 1.0, self.sampler)

    def set_steps(self, steps: int, denoise: float | None = None) -> None:
        """The sigmas for `steps` steps; `denoise` below 1 keeps the last `steps` of int(steps / denoise)."""
        from nodes.comfy_compat import sampling

        self.steps = steps
        self.sigmas = sampling.ksampler_sigmas_for(self.model, self.scheduler, steps, denoise, self.sampler)

    def sample(self, noise: "torch.Tensor", positive: Any, negative: Any, cfg: float,
               latent_image: "torch.Tensor | None" = None, start_step: int | None = None,
               last_step: int | None = None, force_full_denoise: bool = False,
               denoise_mask: "torch.Tensor | None" = None, sigmas: "torch.Tensor | None" = None,
               callback: Callable | None = None, disable_pbar: bool = False, seed: int | None = None
               ) -> "torch.Tensor":
        from nodes.comfy_compat import sampling

        return sampling.ksampler_run(self.model, self.sampler, self.sigmas if sigmas is None else sigmas, noise,
                                     positive, negative, cfg, latent_image, start_step, last_step,
                                     force_full_denoise, denoise_mask, callback, disable_pbar, seed)


_not_offered = attribute_not_offered(__name__)


def __getattr__(name: str) -> Any:
    """KSAMPLER and CFGGuider are classes of the sampler runtime, loaded (with torch) when a plugin first names
    them; what else ComfyUI's module has and this one lacks is named as not offered."""
    if name == "KSAMPLER":
        from nodes.runtime.sampling import SamplerObject

        return SamplerObject
    if name == "CFGGuider":
        from nodes.comfy_compat.sampling import CFGGuider

        return CFGGuider
    return _not_offered(name)
