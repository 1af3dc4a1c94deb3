"""The sampling behind the `comfy.samplers` and `comfy.sample` shims (kept here so that importing those shims for
their name lists loads no torch): ComfyUI's CFGGuider interface on Latentloom's guider, the schedule behind a
model_sampling object, and KSampler's sigmas, over the same runtime the KSampler and SamplerCustom nodes use."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import torch

from graph_engine import InvalidNodeInput
from nodes.runtime.guidance import CondEntry, GuidedDenoiser, read_conditioning
from nodes.runtime.guidance.cond_batch import calc_cond_batch as batched_predictions
from nodes.runtime.guidance.cond_batch import read_group
from nodes.runtime.guiders import CFGGuider as LatentloomCFGGuider
from nodes.runtime.models.patching import cfg_function as runtime_cfg_function
from nodes.runtime.sampling import (SAMPLERS, SCHEDULERS, DiscreteSchedule, SamplerObject, advanced_sigmas,
                                    ksampler_sigmas)
from nodes.runtime.sampling import sampler_object as runtime_sampler_object


class InnerModel:
    """What a CFGGuider subclass's predict_noise gets as `self.inner_model` while it samples: the MODEL, the image an
    inpainting UNet reads, and one predictor per conditioning it asks for (made once per sampling, cleaned up
    after)."""

    def __init__(self, model: Any, image: Mapping[str, Any] | None) -> None:
        self.model_patcher = model
        self.image = dict(image or {})
        self.predictors: dict[tuple, tuple[Any, GuidedDenoiser]] = {}

    def predictor(self, positive: list[CondEntry], negative: list[CondEntry], cfg: float) -> GuidedDenoiser:
        key = (id(positive), id(negative), float(cfg))
        if key not in self.predictors:  # the lists are kept with it, so their ids stay theirs
            self.predictors[key] = ((positive, negative),
                                    GuidedDenoiser(self.model_patcher, positive, negative, cfg, **self.image))
        return self.predictors[key][1]

    def cleanup(self) -> None:
        for _, predictor in self.predictors.values():
            predictor.cleanup()

    def __getattr__(self, name: str) -> Any:
        """Otherwise the model's `model` view (model_sampling, latent_format...), as ComfyUI's inner model is."""
        return getattr(self.__dict__["model_patcher"].model, name)


def _inner(model: Any) -> InnerModel:
    return model if isinstance(model, InnerModel) else InnerModel(model, None)


def calc_cond_batch(model: Any, conds: list[Any], x_in: torch.Tensor, timestep: torch.Tensor,
                    model_options: Mapping[str, Any] | None = None) -> list[torch.Tensor]:
    """Each conditioning's x0 prediction for x_in at sigma `timestep` (per sample), the model's patches applied; on
    a guider's inner model, with the image an inpainting UNet reads."""
    if not isinstance(model, InnerModel):
        return batched_predictions(model, conds, x_in, timestep, model_options)
    inner = model
    return [inner.predictor(read_group(cond, f"conds[{index}]"), [], 1.0).predict_groups(x_in, timestep, 1)[0]
            for index, cond in enumerate(conds)]


def sampling_function(model: Any, x: torch.Tensor, timestep: torch.Tensor, uncond: Any, cond: Any,
                      cond_scale: float, model_options: Mapping[str, Any] | None = None,
                      seed: int | None = None) -> torch.Tensor:
    """The guided x0 for x at sigma `timestep`: CFG of cond against uncond through the model's cfg hooks."""
    return _inner(model).predictor(read_group(cond, "cond"), read_group(uncond, "uncond"), cond_scale)(x, timestep)


def cfg_function(model: Any, cond_pred: torch.Tensor, uncond_pred: torch.Tensor, cond_scale: float,
                 x: torch.Tensor, timestep: torch.Tensor, model_options: Mapping[str, Any] | None = None,
                 cond: Any = None, uncond: Any = None) -> torch.Tensor:
    """ComfyUI's cfg_function on a MODEL, its `model` view or a guider's inner model; `model_options`, when given,
    are the hooks that apply."""
    owner = model.model_patcher if isinstance(model, InnerModel) else getattr(model, "owner", model)
    if model_options is not None and model_options is not owner.model_options:
        owner = dataclasses.replace(owner, model_options=dict(model_options))
    return runtime_cfg_function(owner, cond_pred, uncond_pred, cond_scale, x, timestep, cond, uncond)


class CFGGuider(LatentloomCFGGuider):
    """ComfyUI's CFGGuider: made from a MODEL alone, then given its conditioning and cfg (`set_conds`, `set_cfg`);
    `sample(noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed)` as Latentloom's.

    A plugin's subclass may steer sampling by overriding `predict_noise(x, timestep, model_options, seed)` (the x0
    prediction), reading `self.conds` (by name, from `set_conds`/`inner_set_conds`) and calling
    `calc_cond_batch(self.inner_model, ...)` or `sampling_function(self.inner_model, ...)`."""

    def __init__(self, model_patcher: Any) -> None:
        super().__init__(model_patcher, [], [], 1.0)
        self.model_patcher = model_patcher
        self.model_options = model_patcher.model_options
        self.original_conds: dict[str, list[CondEntry]] = {}

    def set_conds(self, positive: Any, negative: Any) -> None:
        self.inner_set_conds({"positive": positive, "negative": negative})

    def inner_set_conds(self, conds: Mapping[str, Any]) -> None:
        for name, conditioning in conds.items():
            self.original_conds[name] = read_conditioning(conditioning, name)
        self.positive = self.original_conds.get("positive", [])
        self.negative = self.original_conds.get("negative", [])

    def set_cfg(self, cfg: float) -> None:
        self.cfg = float(cfg)

    def predict_noise(self, x: torch.Tensor, timestep: torch.Tensor, model_options: Mapping | None = None,
                      seed: int | None = None) -> torch.Tensor:
        """The guided x0 prediction for x at sigma `timestep` (per sample)."""
        return sampling_function(self.inner_model, x, timestep, self.conds.get("negative"),
                                 self.conds.get("positive"), self.cfg, model_options, seed)

    def denoiser(self, image: Mapping[str, Any] | None = None) -> Callable[..., torch.Tensor]:
        if type(self).predict_noise is CFGGuider.predict_noise:
            return super().denoiser(image)
        self.inner_model = InnerModel(self.model, image)
        self.conds = dict(self.original_conds)

        def denoise(x: torch.Tensor, sigma: torch.Tensor, uncond_sink: dict | None = None,
                    **kwargs: Any) -> torch.Tensor:
            if uncond_sink is not None:
                raise InvalidNodeInput(f"{type(self).__name__} predicts on its own: a CFG++ sampler (*_cfg_pp) cannot "
                                       "run with it; pick another sampler")
            return self.predict_noise(x, sigma, self.model_options, kwargs.get("seed"))

        return denoise

    def sample(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        try:
            return super().sample(*args, **kwargs)
        finally:
            inner = self.__dict__.pop("_inner_model", None)
            if inner is not None:
                inner.cleanup()


def schedule_of(model_sampling: Any) -> DiscreteSchedule:
    """The noise schedule of a model_sampling object: Latentloom's schedule, or one that carries it, or anything with
    ComfyUI's `sigmas` table (one sigma per training step)."""
    if isinstance(model_sampling, DiscreteSchedule):
        return model_sampling
    carried = getattr(model_sampling, "schedule", None)
    if isinstance(carried, DiscreteSchedule):
        return carried
    sigmas = getattr(model_sampling, "sigmas", None)
    if isinstance(sigmas, torch.Tensor) and sigmas.ndim == 1 and len(sigmas) > 1:
        return DiscreteSchedule(1.0 / (1.0 + sigmas.double().cpu() ** 2))
    raise TypeError(f"calculate_sigmas needs a model_sampling with a table of sigmas (model.get_model_object("
                    f"'model_sampling')), not {type(model_sampling).__name__}")


def check_scheduler(name: str) -> None:
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler '{name}'; Latentloom has {', '.join(SCHEDULERS)}")


def calculate_sigmas(model_sampling: Any, scheduler_name: str, steps: int) -> torch.Tensor:
    """The scheduler's sigmas for `steps` steps (and a final 0), as ComfyUI's calculate_sigmas."""
    check_scheduler(scheduler_name)
    return SCHEDULERS[scheduler_name](schedule_of(model_sampling), steps)


def sampler_object(name: str, extra_options: Mapping[str, Any] | None = None,
                   inpaint_options: Mapping[str, Any] | None = None) -> SamplerObject:
    """The SAMPLER for a KSampler sampler name; with options, that sampler function with them (ComfyUI's
    `ksampler(name, extra_options, inpaint_options)`)."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler '{name}'; Latentloom has {', '.join(SAMPLERS)}")
    if extra_options is None and inpaint_options is None:
        return runtime_sampler_object(name)
    return SamplerObject(SAMPLERS[name], dict(extra_options or {}), dict(inpaint_options or {}))


def sample_with_conds(model: Any, noise: torch.Tensor, positive: Any, negative: Any, cfg: float, sampler: Any,
                      sigmas: torch.Tensor, latent_image: torch.Tensor | None = None,
                      denoise_mask: torch.Tensor | None = None, callback: Callable | None = None,
                      disable_pbar: bool = False, seed: int | None = None) -> torch.Tensor:
    """ComfyUI's comfy.samplers.sample: CFG guidance of `model` by the conditioning, the latent samples back (in
    LATENT units, on the CPU)."""
    guider = CFGGuider(model)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    if latent_image is None:
        latent_image = torch.zeros_like(noise)
    return guider.sample(noise, latent_image, sampler, sigmas, denoise_mask, callback, disable_pbar, seed)


def ksampler_run(model: Any, sampler_name: str, base_sigmas: torch.Tensor, noise: torch.Tensor, positive: Any,
                 negative: Any, cfg: float, latent_image: torch.Tensor | None, start_step: int | None,
                 last_step: int | None, force_full_denoise: bool, denoise_mask: torch.Tensor | None,
                 callback: Callable | None, disable_pbar: bool, seed: int | None) -> torch.Tensor:
    """KSampler(Advanced)'s run over its sigmas: the step slice, then CFG sampling with the named sampler; the latent
    unchanged when the slice starts past the end."""
    sigmas = advanced_sigmas(base_sigmas, start_step, last_step, force_full_denoise)
    if len(sigmas) == 0:
        return latent_image if latent_image is not None else torch.zeros_like(noise)
    return sample_with_conds(model, noise, positive, negative, cfg, sampler_object(sampler_name), sigmas,
                             latent_image, denoise_mask, callback, disable_pbar, seed)


def ksampler_sigmas_for(model: Any, scheduler: str, steps: int, denoise: float | None,
                        sampler: str) -> torch.Tensor:
    return ksampler_sigmas(model.schedule, scheduler, steps, 1.0 if denoise is None else denoise, sampler)


def prepare_noise(latent_image: torch.Tensor, seed: int, noise_inds: Any = None) -> torch.Tensor:
    """KSampler's starting noise for `seed` (drawn in float32 on the CPU, one draw per index with `noise_inds`)."""
    from nodes.runtime.sampling import initial_noise

    indices = None if noise_inds is None else [int(index) for index in noise_inds]
    return initial_noise(latent_image.float(), seed, indices).to(latent_image.dtype)


def fix_empty_latent_channels(model: Any, latent_image: torch.Tensor,
                              downscale_ratio_spacial: int | None = None) -> torch.Tensor:
    """An all-zero latent made for another channel count, given the model's channels (and, when another spatial
    ratio is named, resized to the model's 8), as ComfyUI does before sampling; any other latent as it is."""
    if torch.count_nonzero(latent_image) != 0:
        return latent_image
    channels = model.latent_channels
    if latent_image.shape[1] != channels:
        repeats = -(-channels // latent_image.shape[1])
        latent_image = latent_image.repeat(1, repeats, *[1] * (latent_image.ndim - 2))[:, :channels]
    if downscale_ratio_spacial is not None and downscale_ratio_spacial != 8:
        from nodes.latent.resize import resize

        ratio = downscale_ratio_spacial / 8
        latent_image = resize(latent_image, round(latent_image.shape[-1] * ratio),
                              round(latent_image.shape[-2] * ratio), "nearest-exact", "disabled")
    return latent_image
