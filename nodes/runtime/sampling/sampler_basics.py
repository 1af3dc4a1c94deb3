"""What every sampler shares: the argument split, the progress report, the slope and the ancestral step.

See samplers.py for the calling convention; `with_uncond_sink` is the CFG++ protocol described there.
"""
from __future__ import annotations

from typing import Any, Callable

import torch

Denoise = Callable[..., torch.Tensor]
Callback = Callable[[dict[str, Any]], None]
Sampler = Callable[..., torch.Tensor]


def split_args(extra_args: dict[str, Any] | None) -> tuple[dict[str, Any], int | None]:
    kwargs = dict(extra_args or {})
    return kwargs, kwargs.pop("seed", None)


def report(callback: Callback | None, i: int, x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> None:
    if callback is not None:
        callback({"i": i, "x": x, "sigma": sigma, "denoised": denoised})


def with_uncond_sink(extra_args: dict | None
                     ) -> tuple[dict[str, Any], int | None, Callable[[torch.Tensor], torch.Tensor]]:
    """kwargs carrying an `uncond_sink`, the seed, and a reader of the last negative x0 prediction (see the top)."""
    kwargs, seed = split_args(extra_args)
    sink: dict[str, torch.Tensor] = {}
    kwargs["uncond_sink"] = sink
    return kwargs, seed, lambda denoised: sink.pop("uncond", denoised)


def to_d(x: torch.Tensor, sigma: torch.Tensor, denoised: torch.Tensor) -> torch.Tensor:
    """dx/dsigma of the probability-flow ODE (Karras et al. 2022, eq. 3 with D as the denoiser)."""
    return (x - denoised) / sigma


def ancestral_step(sigma_from: torch.Tensor, sigma_to: torch.Tensor,
                   eta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor | float]:
    """Split a step into a deterministic part down to sigma_down and fresh noise of std sigma_up."""
    if not eta:
        return sigma_to, 0.0
    sigma_up = eta * (sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2) ** 0.5
    # torch.minimum on tensors: Python's min would compare them on the host, a wait for the device every step
    sigma_up = torch.minimum(sigma_to, sigma_up) if isinstance(sigma_up, torch.Tensor) else min(sigma_to, sigma_up)
    sigma_down = (sigma_to ** 2 - sigma_up ** 2) ** 0.5
    return sigma_down, sigma_up


def steps_to_zero(sigmas: torch.Tensor) -> list[bool]:
    """For each step, whether it ends at sigma 0; read once before a sampler's loop, since `if sigmas[i + 1] == 0`
    on a device tensor waits for the device every step."""
    return (sigmas[1:] == 0).tolist()


def host_ancestral_steps(sigmas: torch.Tensor, eta: float) -> list[tuple[float, float]]:
    """Each step's (sigma_down, sigma_up) as Python numbers, from the sigmas read to the host once: for a sampler's
    branches, which must not read device values each step (see steps_to_zero)."""
    host = sigmas.tolist()
    return [ancestral_step(host[i], host[i + 1], eta) for i in range(len(host) - 1)]


def ancestral_steps_to_zero(sigmas: torch.Tensor, eta: float) -> list[bool]:
    """For each ancestral step, whether its deterministic part goes down to sigma 0 (sigma_down == 0)."""
    return [down == 0 for down, _ in host_ancestral_steps(sigmas, eta)]
