"""ComfyUI's `comfy.k_diffusion.sampling` for plugins: `sample_<name>` for each sampler Latentloom's KSampler offers
(ComfyUI's signature: `disable` is accepted and progress goes through the callback), and the helpers plugins write
their own sampler functions with: `to_d`, `get_ancestral_step`, `default_noise_sampler`,
`BrownianTreeNoiseSampler`, `get_sigmas_*`, `append_zero`, `trange`.

Noise helpers draw what Latentloom's samplers draw for a seed, so a plugin's copy of a built-in sampler gives the
same latent.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import torch

from nodes.comfy_compat.not_offered import attribute_not_offered
from nodes.runtime.sampling import SAMPLERS, BrownianNoiseSampler, ancestral_noise_sampler, ancestral_step
from nodes.runtime.sampling import schedulers
from nodes.runtime.sampling.schedulers import _append_zero as append_zero  # noqa: F401 - offered to plugins
from nodes.runtime.sampling.sampler_basics import to_d as _to_d

NOT_K_DIFFUSION = ("ddim", "uni_pc", "uni_pc_bh2")  # ComfyUI's samplers.py makes these, not k_diffusion

get_ancestral_step = ancestral_step


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """dx/dsigma for a sigma per sample ([batch]) or one for all."""
    if isinstance(sigma, torch.Tensor) and sigma.ndim == 1:
        sigma = sigma.reshape(-1, *[1] * (x.ndim - 1))
    return _to_d(x, sigma, denoised)


def default_noise_sampler(x: torch.Tensor, seed: int | None = None) -> Callable[..., torch.Tensor]:
    """Fresh noise of x's shape per call, seeded as the built-in ancestral samplers seed theirs."""
    return ancestral_noise_sampler(x, seed)


class BrownianTreeNoiseSampler(BrownianNoiseSampler):
    """The SDE samplers' Brownian noise (one tree per seed when given a list); `transform` must be the identity."""

    def __init__(self, x: torch.Tensor, sigma_min: Any, sigma_max: Any, seed: Any = None,
                 transform: Callable[[Any], Any] | None = None, cpu: bool = False) -> None:
        if transform is not None and transform(torch.tensor(2.0)) != 2.0:
            raise ValueError("Latentloom's BrownianTreeNoiseSampler works in sigma: a transform is not supported")
        super().__init__(x, sigma_min, sigma_max, seed=seed, cpu=cpu)


def _on(device: Any, sigmas: torch.Tensor) -> torch.Tensor:
    return sigmas.to(device)


def get_sigmas_karras(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0,
                      device: Any = "cpu") -> torch.Tensor:
    return _on(device, schedulers.karras_sigmas(n, sigma_min, sigma_max, rho))


def get_sigmas_exponential(n: int, sigma_min: float, sigma_max: float, device: Any = "cpu") -> torch.Tensor:
    return _on(device, schedulers.exponential_sigmas(n, sigma_min, sigma_max))


def get_sigmas_polyexponential(n: int, sigma_min: float, sigma_max: float, rho: float = 1.0,
                               device: Any = "cpu") -> torch.Tensor:
    return _on(device, schedulers.polyexponential_sigmas(n, sigma_min, sigma_max, rho))


def get_sigmas_vp(n: int, beta_d: float = 19.9, beta_min: float = 0.1, eps_s: float = 1e-3,
                  device: Any = "cpu") -> torch.Tensor:
    return _on(device, schedulers.vp_sigmas(n, beta_d, beta_min, eps_s))


def get_sigmas_laplace(n: int, sigma_min: float, sigma_max: float, mu: float = 0.0, beta: float = 0.5,
                       device: Any = "cpu") -> torch.Tensor:
    return _on(device, schedulers.laplace_sigmas(n, sigma_min, sigma_max, mu, beta))


def trange(*args: int, disable: bool | None = None, **_: Any) -> range:
    """The steps a sampler loops over (progress is reported through its callback, not a terminal bar)."""
    return range(*args)


def _accepting_disable(function: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    @functools.wraps(function)
    def sample(model: Any, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
               callback: Callable | None = None, disable: bool | None = None, **options: Any) -> torch.Tensor:
        return function(model, x, sigmas, extra_args=extra_args, callback=callback, **options)

    return sample


_not_offered = attribute_not_offered(__name__)


def __getattr__(name: str) -> Any:
    """`sample_euler`, `sample_dpmpp_2m` ...: the built-in sampler of that name; what else ComfyUI's module has and
    this one lacks is named as not offered."""
    sampler = name[len("sample_"):] if name.startswith("sample_") else None
    if sampler in SAMPLERS and sampler not in NOT_K_DIFFUSION:
        return _accepting_disable(SAMPLERS[sampler])
    return _not_offered(name)
