"""What a UNet's output means and how noise is added: ComfyUI's model_sampling parameterizations (EPS, V_PREDICTION,
EDM, X0, IMG_TO_IMG, IMG_TO_IMG_FLOW, COSMOS_RFLOW, LCM), joined to a noise schedule in `ModelSampling`.

A `ModelSampling` is both what the samplers read as the schedule (sigmas, timestep(), percent_to_sigma()) and what
the denoiser uses to turn x into the UNet's input and the UNet's output into x0, with ComfyUI's method names.
"""
from __future__ import annotations

from typing import Any

import torch


def _per_sample(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Sigma shaped to broadcast over `like`: one value for all, or one per sample."""
    if sigma.numel() == 1:
        return sigma.reshape(())
    return sigma.reshape(sigma.shape[:1] + (1,) * (like.ndim - 1))


class Epsilon:
    """The UNet predicts the noise; it sees x scaled to unit variance (k-diffusion's variance-exploding units)."""

    name = "eps"
    flow = False  # ComfyUI's CONST family: sigma is the flow time t in 0..1, x = (1 - t) x0 + t noise

    def model_input(self, sampling: "ModelSampling", sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        s = _per_sample(sigma, x)
        return x / (s ** 2 + sampling.sigma_data ** 2) ** 0.5

    def denoised(self, sampling: "ModelSampling", sigma: torch.Tensor, out: torch.Tensor,
                 x: torch.Tensor) -> torch.Tensor:
        return x - out * _per_sample(sigma, out)

    def noise_scaling(self, sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        """From pure noise the scale is sqrt(1 + sigma^2), the variance of the last training step, as ComfyUI."""
        s = _per_sample(sigma, noise)
        scale = torch.sqrt(1.0 + s ** 2.0) if max_denoise else s
        return noise * scale + latent

    def inverse_noise_scaling(self, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return latent


class VPrediction(Epsilon):
    """v = alpha * eps - sigma_vp * x0 (Salimans & Ho 2022), for sigma_data = 1."""

    name = "v_prediction"
    output_sign = -1.0

    def denoised(self, sampling: "ModelSampling", sigma: torch.Tensor, out: torch.Tensor,
                 x: torch.Tensor) -> torch.Tensor:
        s, data = _per_sample(sigma, out), sampling.sigma_data
        total = s ** 2 + data ** 2
        return x * data ** 2 / total + self.output_sign * out * s * data / total ** 0.5


class EDM(VPrediction):
    """Karras et al.'s preconditioning: the v formula with the output's sign flipped."""

    name = "edm"
    output_sign = 1.0


class X0(Epsilon):
    """The UNet predicts x0 itself."""

    name = "x0"

    def denoised(self, sampling: "ModelSampling", sigma: torch.Tensor, out: torch.Tensor,
                 x: torch.Tensor) -> torch.Tensor:
        return out


class ImageToImage(X0):
    """x0 prediction from the unscaled latent."""

    name = "img_to_img"

    def model_input(self, sampling: "ModelSampling", sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x


class ImageToImageFlow(ImageToImage):
    """x0 prediction of a flow model that starts from the image itself: no noise is added, and the result is
    inverted (1 - x) at the end, as ComfyUI's IMG_TO_IMG_FLOW."""

    name = "img_to_img_flow"
    flow = True

    def noise_scaling(self, sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        return latent

    def inverse_noise_scaling(self, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        return 1.0 - latent


class CosmosRectifiedFlow(Epsilon):
    """Cosmos' rectified flow written over EDM sigmas: t = sigma / (sigma + 1), x_t = (1 - t) x0 + t eps."""

    name = "cosmos_rflow"

    def model_input(self, sampling: "ModelSampling", sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x * (1.0 - _per_sample(sigma / (sigma + 1), x))

    def denoised(self, sampling: "ModelSampling", sigma: torch.Tensor, out: torch.Tensor,
                 x: torch.Tensor) -> torch.Tensor:
        t = _per_sample(sigma / (sigma + 1), out)
        return x * (1.0 - t) - out * t

    def noise_scaling(self, sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        return noise * _per_sample(sigma, noise) + latent


class LCM(Epsilon):
    """Latent consistency models: the eps x0 mixed with x by the consistency boundary conditions (sigma_data 0.5,
    timestep scaled by 10)."""

    name = "lcm"

    def denoised(self, sampling: "ModelSampling", sigma: torch.Tensor, out: torch.Tensor,
                 x: torch.Tensor) -> torch.Tensor:
        t = _per_sample(sampling.timestep(sigma), out) * 10.0
        x0 = super().denoised(sampling, sigma, out, x)
        data = 0.5
        skip = data ** 2 / (t ** 2 + data ** 2)
        scale = t / (t ** 2 + data ** 2) ** 0.5
        return scale * x0 + skip * x


# DiffusionModel.prediction_type names (diffusers' words) for the two a checkpoint can have
PREDICTION_PARAMETERIZATIONS = {"epsilon": Epsilon, "v_prediction": VPrediction}


class ModelSampling:
    """ComfyUI's `model.model.model_sampling`: a noise schedule (sigmas, timestep(), sigma(), percent_to_sigma())
    and a parameterization (calculate_input(), calculate_denoised(), noise_scaling()), with sigma_data."""

    def __init__(self, schedule: Any, parameterization: Epsilon, sigma_data: float = 1.0) -> None:
        self.schedule = schedule
        self.parameterization = parameterization
        self.sigma_data = float(sigma_data)

    @property
    def sigmas(self) -> torch.Tensor:
        return self.schedule.sigmas

    @property
    def log_sigmas(self) -> torch.Tensor:
        return self.schedule.log_sigmas

    @property
    def num_timesteps(self) -> int:
        return self.schedule.num_timesteps

    @property
    def sigma_min(self) -> torch.Tensor:
        return self.schedule.sigma_min

    @property
    def sigma_max(self) -> torch.Tensor:
        return self.schedule.sigma_max

    def timestep(self, sigma: torch.Tensor) -> torch.Tensor:
        return self.schedule.timestep(sigma)

    def sigma(self, timestep: torch.Tensor) -> torch.Tensor:
        return self.schedule.sigma(timestep)

    def percent_to_sigma(self, percent: float) -> float:
        return self.schedule.percent_to_sigma(percent)

    def calculate_input(self, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x as the UNet sees it."""
        return self.parameterization.model_input(self, sigma, noise)

    def calculate_denoised(self, sigma: torch.Tensor, model_output: torch.Tensor,
                           model_input: torch.Tensor) -> torch.Tensor:
        """x0 from the UNet's output and x (the sampler's latent, not the UNet's scaled input)."""
        return self.parameterization.denoised(self, sigma, model_output, model_input)

    def noise_scaling(self, sigma: torch.Tensor, noise: torch.Tensor, latent_image: torch.Tensor,
                      max_denoise: bool = False) -> torch.Tensor:
        """The latent noised to sigma, where sampling starts."""
        return self.parameterization.noise_scaling(sigma, noise, latent_image, max_denoise)

    def inverse_noise_scaling(self, sigma: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """The sampled latent back in LATENT terms (the identity but for flow-style parameterizations)."""
        return self.parameterization.inverse_noise_scaling(sigma, latent)


def as_model_sampling(schedule: Any, prediction_type: str) -> Any:
    """`schedule` itself when it is already a full model sampling (ComfyUI's interface: a patched one), else the
    schedule with the parameterization `prediction_type` ("epsilon" or "v_prediction") names."""
    if hasattr(schedule, "calculate_denoised"):
        return schedule
    if prediction_type not in PREDICTION_PARAMETERIZATIONS:
        raise ValueError(f"prediction_type must be one of {tuple(PREDICTION_PARAMETERIZATIONS)}, "
                         f"not {prediction_type!r}")
    return ModelSampling(schedule, PREDICTION_PARAMETERIZATIONS[prediction_type]())


def is_flow(sampling: Any) -> bool:
    """Whether a model sampling is of ComfyUI's CONST (flow) family, where sigma is the flow time."""
    return bool(getattr(getattr(sampling, "parameterization", None), "flow", False))
