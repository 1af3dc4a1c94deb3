"""ComfyUI's `model.model` view and object patches on a MODEL: `model.model.model_sampling`, `latent_format`,
`diffusion_model`, `model_type`, and `add_object_patch` / `get_model_object` as ModelPatcher has them.

An object patch replaces the MODEL's own part on that clone: a patched "model_sampling" becomes the schedule the
samplers and the denoiser use (a full model sampling, sampling/parameterization.py), "latent_format" the latent
units, "diffusion_model" the UNet.
"""
from __future__ import annotations

import enum
from typing import Any, Callable

from graph_engine import InvalidNodeInput

from ..sampling.model_schedules import (ContinuousEDMSchedule, ContinuousVSchedule, CosmosRectifiedFlowSchedule,
                                        DistilledSchedule, zero_terminal_snr)
from ..sampling.parameterization import (EDM, LCM, X0, CosmosRectifiedFlow, Epsilon, ImageToImage, ImageToImageFlow,
                                         ModelSampling, VPrediction, as_model_sampling)
from ..sampling.schedule import sd_schedule
from .latent_formats import PLAYGROUND_V25_FORMAT
from .wrappers import add_wrapper

# object patch name -> the DiffusionModel field it replaces
OBJECT_FIELDS = {"model_sampling": "schedule", "latent_format": "latent_format", "diffusion_model": "unet"}


class ModelType(enum.Enum):
    """ComfyUI's comfy.model_base.ModelType for the parameterizations a checkpoint loads with."""

    EPS = 1
    V_PREDICTION = 2


MODEL_TYPES = {"epsilon": ModelType.EPS, "v_prediction": ModelType.V_PREDICTION}


class ModelView:
    """What `model.model` (ComfyUI's BaseModel) gives plugins, read live from the MODEL it belongs to."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner

    @property
    def model_sampling(self) -> Any:
        return self.owner.get_model_object("model_sampling")

    @property
    def latent_format(self) -> Any:
        return self.owner.latent_format

    @property
    def diffusion_model(self) -> Any:
        return self.owner.unet

    @property
    def model_type(self) -> ModelType:
        return MODEL_TYPES[self.owner.prediction_type]

    @property
    def device(self) -> Any:
        return self.owner.device

    def get_dtype(self) -> Any:
        return self.owner.dtype


class SamplingPatchSurface:
    """ModelPatcher's object patches, `model` view and the sampling hooks outside the cfg step (mixed into
    DiffusionModel)."""

    @property
    def model(self) -> ModelView:
        return ModelView(self)

    def add_object_patch(self, name: str, obj: Any) -> None:
        """Replace a part of this MODEL (call it on a clone, as ComfyUI's nodes do)."""
        if name not in OBJECT_FIELDS:
            raise InvalidNodeInput(f"add_object_patch({name!r}): Latentloom's MODEL takes object patches for "
                                   f"{', '.join(OBJECT_FIELDS)} only")
        if name == "model_sampling" and not hasattr(obj, "calculate_denoised"):
            raise InvalidNodeInput("add_object_patch('model_sampling', ...) needs a model sampling object with "
                                   "ComfyUI's interface (sigmas, timestep, calculate_input, calculate_denoised, "
                                   f"noise_scaling); got {type(obj).__name__}")
        setattr(self, OBJECT_FIELDS[name], obj)

    def set_model_denoise_mask_function(self, function: Callable[..., Any]) -> None:
        """`function(sigma, denoise_mask, extra_options={"model": guider, "sigmas": ...})` gives the inpaint mask
        each step (ksampler.py MaskedDenoiser)."""
        self.model_options["denoise_mask_function"] = function

    def add_wrapper(self, wrapper_type: str, wrapper: Callable[..., Any]) -> None:
        """A wrapper around a step of sampling (wrappers.py; "predict_noise" is honoured)."""
        self.add_wrapper_with_key(wrapper_type, None, wrapper)

    def add_wrapper_with_key(self, wrapper_type: str, key: Any, wrapper: Callable[..., Any]) -> None:
        add_wrapper(self.model_options, wrapper_type, key, wrapper)

    def get_model_object(self, name: str) -> Any:
        """The part in use, patched or not; "model_sampling" is always a full model sampling."""
        if name == "model_sampling":
            return as_model_sampling(self.schedule, self.prediction_type)
        if name in OBJECT_FIELDS:
            return getattr(self, OBJECT_FIELDS[name])
        raise AttributeError(f"this MODEL has no part named {name!r} (it offers {', '.join(OBJECT_FIELDS)})")


def discrete_model_sampling(kind: str, zsnr: bool, unet_config: Any = None) -> ModelSampling:
    """ModelSamplingDiscrete's model sampling: the model's 1000-step training table, rebuilt from its UNet config as
    ComfyUI rebuilds it from the model config (SD's for SD1, SD2 and SDXL; the x4 upscaler's own), rescaled to zero
    terminal SNR with `zsnr`, every 20th step for "lcm", with the parameterization `kind` names."""
    from .x4_upscaler import sampling_facts

    schedule = sampling_facts(unet_config or {}).get("schedule") or sd_schedule()
    if zsnr:
        schedule = zero_terminal_snr(schedule)
    if kind == "lcm":
        schedule = DistilledSchedule(schedule)
    return ModelSampling(schedule, _parameterization(kind, DISCRETE_KINDS))


def continuous_model_sampling(kind: str, sigma_min: float, sigma_max: float,
                              timesteps: str = "edm") -> tuple[ModelSampling, Any]:
    """ModelSamplingContinuousEDM's (or, with timesteps "v", ModelSamplingContinuousV's) model sampling and the
    latent format it implies (None: the model's own)."""
    if not 0 < sigma_min < sigma_max:
        raise InvalidNodeInput(f"sigma_min ({sigma_min}) must be above 0 and below sigma_max ({sigma_max}): the "
                               "schedule runs log-uniformly between them")
    parameterization = _parameterization(kind, CONTINUOUS_KINDS)
    schedule_type = CosmosRectifiedFlowSchedule if kind == "cosmos_rflow" else CONTINUOUS_TIMESTEPS[timesteps]
    sigma_data = 0.5 if kind in ("edm", "edm_playground_v2.5") else 1.0
    latent = PLAYGROUND_V25_FORMAT if kind == "edm_playground_v2.5" else None
    return ModelSampling(schedule_type(sigma_min, sigma_max), parameterization, sigma_data), latent


def _parameterization(kind: str, kinds: dict[str, type]) -> Any:
    if kind not in kinds:
        raise InvalidNodeInput(f"sampling: {kind!r} is not one of {', '.join(kinds)}")
    return kinds[kind]()


DISCRETE_KINDS = {"eps": Epsilon, "v_prediction": VPrediction, "lcm": LCM, "x0": X0, "img_to_img": ImageToImage,
                  "img_to_img_flow": ImageToImageFlow}
CONTINUOUS_KINDS = {"v_prediction": VPrediction, "edm": EDM, "edm_playground_v2.5": EDM, "eps": Epsilon,
                    "cosmos_rflow": CosmosRectifiedFlow}
CONTINUOUS_TIMESTEPS = {"edm": ContinuousEDMSchedule, "v": ContinuousVSchedule}
