"""Checks for the custom-sampling wire values (MODEL, SIGMAS, SAMPLER, NOISE, GUIDER, LATENT), with errors that say
which input is wrong and where a right value comes from."""
from __future__ import annotations

from typing import Any

from graph_engine import InvalidNodeInput


def sigmas_input(sigmas: Any, name: str = "sigmas") -> Any:
    """A SIGMAS value: a 1-D float tensor of noise levels."""
    import torch

    if not isinstance(sigmas, torch.Tensor) or sigmas.ndim != 1:
        shape = tuple(sigmas.shape) if isinstance(sigmas, torch.Tensor) else ""
        raise InvalidNodeInput(f"{name} must be SIGMAS (a 1-D tensor of noise levels, e.g. from BasicScheduler), got "
                               f"{type(sigmas).__name__}{shape}")
    return sigmas


def model_input(model: Any) -> Any:
    """A MODEL with a noise schedule (from a checkpoint loader)."""
    if getattr(model, "schedule", None) is None or getattr(model, "latent_format", None) is None:
        raise InvalidNodeInput(f"model must be a MODEL from a checkpoint loader, got {type(model).__name__}")
    return model


def sampler_input(sampler: Any) -> Any:
    if not callable(getattr(sampler, "sample", None)) or not hasattr(sampler, "sampler_function"):
        raise InvalidNodeInput(f"sampler must be a SAMPLER (e.g. from KSamplerSelect), got {type(sampler).__name__}")
    return sampler


def noise_input(noise: Any) -> Any:
    if not callable(getattr(noise, "generate_noise", None)) or not hasattr(noise, "seed"):
        raise InvalidNodeInput(f"noise must be a NOISE (from RandomNoise or DisableNoise), got {type(noise).__name__}")
    return noise


def guider_input(guider: Any) -> Any:
    if not callable(getattr(guider, "sample", None)) or not hasattr(guider, "model"):
        raise InvalidNodeInput(f"guider must be a GUIDER (e.g. from CFGGuider), got {type(guider).__name__}")
    return guider
