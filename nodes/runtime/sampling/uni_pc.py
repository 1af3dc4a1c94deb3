"""UniPC multistep predictor-corrector (Zhao et al. 2023, arXiv:2302.04867), as ComfyUI runs it.

ComfyUI solves in variance-preserving units (x_vp = x / sqrt(1 + sigma^2)) with data prediction, order
min(3, steps - 1), lower order on the last steps, and sigma = 0 replaced by 0.001. We keep those units
and their float32 formulas: at sigma = 0.001 the VP noise level loses a few percent to rounding, and
images only match ComfyUI's if that rounding is the same. Likewise kept: with a single step the order is
0, no update is taken, and the start comes back rescaled (ComfyUI's 1-step uni_pc gives noise).
"""
from __future__ import annotations

from typing import Any, Callable

import torch

Denoise = Callable[..., torch.Tensor]

FINAL_SIGMA = 0.001  # ComfyUI's stand-in for sigma = 0, where log-SNR is infinite


def _log_alpha(sigma: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.log(1 / ((sigma * sigma) + 1))


def _alpha(sigma: torch.Tensor) -> torch.Tensor:
    return torch.exp(_log_alpha(sigma))


def _std(sigma: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(1.0 - torch.exp(2.0 * _log_alpha(sigma)))


def _lambda(sigma: torch.Tensor) -> torch.Tensor:
    """Half log-SNR log(alpha / std); analytically -log(sigma)."""
    log_alpha = _log_alpha(sigma)
    return log_alpha - 0.5 * torch.log(1.0 - torch.exp(2.0 * log_alpha))


def _dims(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(v.shape[:1] + (1,) * (like.ndim - 1))


def _data_prediction(model: Denoise, x: torch.Tensor, sigma: torch.Tensor, kwargs: dict) -> torch.Tensor:
    """x0 from VP x, via the noise the denoiser implies (the path ComfyUI takes, rounding included)."""
    s = _dims(sigma, x)
    x_k = x * (s ** 2 + 1.0) ** 0.5
    eps = (x_k - model(x_k, sigma, **kwargs)) / s
    return (x - _dims(_std(sigma), x) * eps) / _dims(_alpha(sigma), x)


def _weighted(rhos: torch.Tensor, diffs: list[torch.Tensor]) -> torch.Tensor | float:
    return sum(rho * d for rho, d in zip(rhos, diffs)) if diffs else 0.0


def _update(model: Denoise, x: torch.Tensor, prev_x0: list[torch.Tensor], prev_sigma: list[torch.Tensor],
            sigma: torch.Tensor, order: int, variant: str, use_corrector: bool, kwargs: dict):
    """One UniPC step of `order` from prev_sigma[-1] to sigma: predictor UniP, then corrector UniC (B(h) form)."""
    lambda_0, lambda_t = _lambda(prev_sigma[-1]), _lambda(sigma)
    h = (lambda_t - lambda_0)[0]
    x0_0 = prev_x0[-1]
    rks, diffs = [], []
    for i in range(1, order):
        rk = ((_lambda(prev_sigma[-(i + 1)]) - lambda_0) / h)[0]
        rks.append(rk)
        diffs.append((prev_x0[-(i + 1)] - x0_0) / rk)
    rks = torch.tensor(rks + [1.0], device=x.device)

    hh = -h  # data prediction integrates in -lambda
    h_phi_1 = torch.expm1(hh)
    b_h = hh if variant == "bh1" else torch.expm1(hh)
    h_phi_k, factorial, rows, b = h_phi_1 / hh - 1, 1, [], []
    for i in range(1, order + 1):
        rows.append(torch.pow(rks, i - 1))
        b.append(h_phi_k * factorial / b_h)
        factorial *= i + 1
        h_phi_k = h_phi_k / hh - 1 / factorial
    r_mat, b = torch.stack(rows), torch.tensor(b, device=x.device)

    alpha_t = _dims(_alpha(sigma), x)
    x_base = _dims(_std(sigma) / _std(prev_sigma[-1]), x) * x - alpha_t * h_phi_1 * x0_0
    if diffs:
        rhos_p = torch.tensor([0.5], device=x.device) if order == 2 else torch.linalg.solve(r_mat[:-1, :-1], b[:-1])
        x_t = x_base - alpha_t * b_h * _weighted(rhos_p, diffs)
    else:
        x_t = x_base
    if not use_corrector:
        return x_t, None
    rhos_c = torch.tensor([0.5], device=x.device) if order == 1 else torch.linalg.solve(r_mat, b)
    x0_t = _data_prediction(model, x_t, sigma, kwargs)
    x_t = x_base - alpha_t * b_h * (_weighted(rhos_c[:-1], diffs) + rhos_c[-1] * (x0_t - x0_0))
    return x_t, x0_t


@torch.no_grad()
def _sample(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None,
            callback: Callable[[dict[str, Any]], None] | None, variant: str) -> torch.Tensor:
    kwargs = {k: v for k, v in (extra_args or {}).items() if k != "seed"}
    if len(sigmas) <= 1:
        return x
    sigmas = sigmas.clone()
    if sigmas[-1] == 0:
        sigmas[-1] = FINAL_SIGMA
    steps, order = len(sigmas) - 1, min(3, len(sigmas) - 2)
    x = x / torch.sqrt(1.0 + sigmas[0] ** 2.0)

    def at(k: int) -> torch.Tensor:  # sigma k, one per batch item
        return sigmas[k].expand(x.shape[0])

    prev_x0, prev_sigma = [_data_prediction(model, x, at(0), kwargs)], [at(0)]
    x_sigma = sigmas[0]
    for step_index in range(steps):
        if 0 < step_index < order:  # warm-up: the order grows with the history
            x, x0 = _update(model, x, prev_x0, prev_sigma, at(step_index), step_index, variant, True, kwargs)
            prev_x0.append(x0)
            prev_sigma.append(at(step_index))
            x_sigma = sigmas[step_index]
        elif step_index > 0:
            # The last iteration also takes the final step, predictor only; orders drop towards the end.
            for step in range(step_index, steps + 1 if step_index == steps - 1 else step_index + 1):
                step_order = min(order, steps + 1 - step)
                x, x0 = _update(model, x, prev_x0, prev_sigma, at(step), step_order, variant, step < steps, kwargs)
                prev_x0, prev_sigma = prev_x0[1:] + prev_x0[-1:], prev_sigma[1:] + [at(step)]
                if step < steps:
                    prev_x0[-1] = x0
                x_sigma = sigmas[step]
        if callback is not None:
            callback({"i": step_index, "x": x / _alpha(x_sigma), "sigma": sigmas[step_index], "denoised": prev_x0[-1]})
    return x / _alpha(sigmas[-1])


def sample_uni_pc(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                  callback: Callable[[dict[str, Any]], None] | None = None, noise_sampler: Any = None) -> torch.Tensor:
    """UniPC with B(h) = h ("bh1"), ComfyUI's `uni_pc`."""
    return _sample(model, x, sigmas, extra_args, callback, "bh1")


def sample_uni_pc_bh2(model: Denoise, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                      callback: Callable[[dict[str, Any]], None] | None = None,
                      noise_sampler: Any = None) -> torch.Tensor:
    """UniPC with B(h) = e^h - 1 ("bh2"), ComfyUI's `uni_pc_bh2`."""
    return _sample(model, x, sigmas, extra_args, callback, "bh2")
