"""What a seed means, as in ComfyUI: the initial latent noise and the fresh noise samplers draw on each step.

- Initial noise: a CPU generator seeded with `seed`, then one float32 `randn` of the whole latent shape
  [B, 4, H/8, W/8] (or one [1, ...] draw per index when the latent carries a batch_index).
- Ancestral samplers (and lcm): one `randn` of the latent shape per step from a generator on the latent's
  device, seeded with `seed + 1` on the CPU and `seed` elsewhere.
- SDE samplers: a Brownian tree (torchsde) seeded with `seed`, so the noise between two sigmas does not
  depend on how many steps were taken.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Sequence

import torch

from .schedule import DiscreteSchedule

NoiseSampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def initial_noise(latent: torch.Tensor, seed: int, batch_index: Sequence[int] | None = None) -> torch.Tensor:
    """The noise KSampler adds for `seed`, always drawn on the CPU so it is the same on every device."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    if batch_index is None:
        return torch.randn(latent.shape, dtype=latent.dtype, layout=latent.layout, generator=generator, device="cpu")
    # Latents split from a batch keep their original slot's noise: draw every slot up to the highest one.
    one = [1, *latent.shape[1:]]
    wanted = set(batch_index)
    drawn = {}
    for i in range(max(batch_index) + 1):
        noise = torch.randn(one, dtype=latent.dtype, layout=latent.layout, generator=generator, device="cpu")
        if i in wanted:
            drawn[i] = noise
    return torch.cat([drawn[i] for i in batch_index], dim=0)


def is_max_denoise(schedule: DiscreteSchedule, sigmas: torch.Tensor) -> bool:
    """True when sampling starts at (or above) the model's largest sigma, i.e. from pure noise."""
    max_sigma, sigma = float(schedule.sigma_max), float(sigmas[0])
    return math.isclose(max_sigma, sigma, rel_tol=1e-05) or sigma > max_sigma


def noise_latent(sigma: torch.Tensor, noise: torch.Tensor, latent: torch.Tensor,
                 max_denoise: bool = False) -> torch.Tensor:
    """x at noise level sigma: latent + sigma * noise.

    From pure noise ComfyUI scales by sqrt(1 + sigma^2) instead of sigma, the variance of a VP latent at
    the last training step seen in k-diffusion units; a 0.2% difference at SD's sigma_max that shows.
    """
    scale = torch.sqrt(1.0 + sigma ** 2.0) if max_denoise else sigma
    return noise * scale + latent


def ancestral_noise_sampler(x: torch.Tensor, seed: int | None = None) -> NoiseSampler:
    """Per-step noise for ancestral samplers, one `randn` of x's shape per call."""
    generator = None
    if seed is not None:
        generator = torch.Generator(device=x.device)
        generator.manual_seed(seed + 1 if x.device.type == "cpu" else seed)

    def draw(sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        return torch.randn(x.size(), dtype=x.dtype, layout=x.layout, device=x.device, generator=generator)

    return draw


class BrownianNoiseSampler:
    """Unit-variance Brownian increments W(sigma_next) - W(sigma), normalised by sqrt(|sigma_next - sigma|).

    Backed by torchsde's BrownianTree seeded with `seed` (one tree per seed when given a list, one per
    batch item), built on the CPU unless `cpu=False` (ComfyUI's `_gpu` samplers).
    """

    def __init__(self, x: torch.Tensor, sigma_min: torch.Tensor, sigma_max: torch.Tensor,
                 seed: int | Sequence[int] | None = None, cpu: bool = True) -> None:
        import torchsde  # only the SDE samplers need it

        t0, t1 = torch.as_tensor(sigma_min), torch.as_tensor(sigma_max)
        self.sign = 1 if t0 < t1 else -1
        t0, t1 = (t0, t1) if t0 < t1 else (t1, t0)
        w0 = torch.zeros_like(x)
        self.batched = isinstance(seed, (list, tuple))
        if seed is None:
            seeds: Sequence[int] = [int(torch.randint(0, 2 ** 63 - 1, []).item())]
        elif self.batched:
            if len(seed) != x.shape[0]:
                raise ValueError("one Brownian seed per batch item is needed when seeds are given as a list")
            seeds, w0 = seed, w0[0]
        else:
            seeds = [seed]
        self.cpu = cpu
        if cpu:
            t0, w0, t1 = t0.detach().cpu(), w0.detach().cpu(), t1.detach().cpu()
        self.trees = [torchsde.BrownianTree(t0, w0, t1, entropy=s) for s in seeds]

    def __call__(self, sigma: torch.Tensor, sigma_next: torch.Tensor) -> torch.Tensor:
        t0, t1 = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        lo, hi, sign = (t0, t1, 1) if t0 < t1 else (t1, t0, -1)
        device, dtype = lo.device, lo.dtype
        if self.cpu:
            lo, hi = lo.detach().cpu().float(), hi.detach().cpu().float()
        with warnings.catch_warnings():
            # torchsde complains when a float32 schedule end sits a rounding error outside the tree's span.
            warnings.filterwarnings("ignore", message="Should have", category=UserWarning)
            w = torch.stack([tree(lo, hi) for tree in self.trees])
        w = w.to(device=device, dtype=dtype) * (self.sign * sign)
        w = w if self.batched else w[0]
        return w / (t1 - t0).abs().sqrt()


def brownian_noise_sampler(x: torch.Tensor, sigmas: torch.Tensor, seed: int | Sequence[int] | None = None,
                           cpu: bool = True) -> BrownianNoiseSampler:
    """The Brownian noise sampler spanning a schedule's smallest non-zero and largest sigma."""
    return BrownianNoiseSampler(x, sigmas[sigmas > 0].min(), sigmas.max(), seed=seed, cpu=cpu)


class SeededNoise:
    """What RandomNoise puts on a NOISE wire: KSampler's starting noise for `seed` (ComfyUI's Noise_RandomNoise)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def generate_noise(self, latent: dict) -> torch.Tensor:
        return initial_noise(latent["samples"], self.seed, latent.get("batch_index"))


class ZeroNoise:
    """What DisableNoise puts on a NOISE wire: no noise, so sampling starts from the latent as it is."""

    seed = 0

    def generate_noise(self, latent: dict) -> torch.Tensor:
        samples = latent["samples"]
        return torch.zeros(samples.shape, dtype=samples.dtype, layout=samples.layout, device="cpu")
