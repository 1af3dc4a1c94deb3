"""An independent text-to-image loop over diffusers/transformers modules, written from the published rules
(compatibility.md), to check the nodes against: plain tokenisation, CLIP hidden states, the SD discrete schedule with
ComfyUI's "normal" spacing, euler steps, CFG on separate UNet calls, epsilon or v prediction, SDXL's added inputs.
It shares no code with nodes/runtime: the UNet it is given (ours, as loaded) runs as diffusers' UNet2DConditionModel
with the same weights.
"""
from __future__ import annotations

import math

import torch

BOS, EOS = 49406, 49407


def token_ids(text: str, pad: int) -> torch.Tensor:
    """[1, 77]: BOS, the tokenizer's ids, EOS, padding (prompts under 76 tokens)."""
    import instant_clip_tokenizer

    ids = [BOS, *instant_clip_tokenizer.Tokenizer().encode(text), EOS]
    return torch.tensor([ids + [pad] * (77 - len(ids))])


def clip_hidden(model, ids: torch.Tensor, layer: int, final_norm: bool) -> torch.Tensor:
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
        hidden = out.hidden_states[layer]
        if final_norm:
            text = getattr(model, "text_model", model)
            hidden = text.final_layer_norm(hidden)
    return hidden.float()


def sdxl_pooled(model_g, ids: torch.Tensor) -> torch.Tensor:
    """bigG's projected embedding at the first EOS."""
    with torch.no_grad():
        out = model_g(input_ids=ids, output_hidden_states=True)
        end = int((ids[0] == EOS).nonzero()[0])
        return model_g.text_projection(out.last_hidden_state[:, end]).float()


def sd_log_sigmas() -> torch.Tensor:
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    return (((1 - alphas_cumprod) / alphas_cumprod) ** 0.5).log().float()


def normal_sigmas(steps: int) -> torch.Tensor:
    """Timesteps evenly from 999 to 0 (both included), sigma by linear interpolation of log-sigma, then 0."""
    log_sigmas = sd_log_sigmas()
    sigmas = []
    for t in torch.linspace(999, 0, steps).tolist():
        low, high = math.floor(t), math.ceil(t)
        w = t - low
        sigmas.append(float(((1 - w) * log_sigmas[low] + w * log_sigmas[high]).exp()))
    return torch.tensor(sigmas + [0.0])


def unet_timestep(sigma: float) -> float:
    """The integer training step whose log-sigma is nearest."""
    return float((sd_log_sigmas() - math.log(sigma)).abs().argmin())


def diffusers_unet(unet):
    """diffusers' UNet with the config and weights of ours; anything else (a diffusers UNet, a stand-in that wraps
    one) as it is."""
    from nodes.runtime.models.unet_model import UNetModel
    from tests.fixtures.tiny_checkpoints import as_diffusers_unet

    return as_diffusers_unet(unet) if isinstance(unet, UNetModel) else unet


def denoised(unet, x: torch.Tensor, sigma: float, context: torch.Tensor, prediction: str,
             added: dict | None) -> torch.Tensor:
    x_in = x / (sigma ** 2 + 1) ** 0.5
    with torch.no_grad():
        out = unet(x_in, torch.tensor([unet_timestep(sigma)]), encoder_hidden_states=context,
                   added_cond_kwargs=added).sample.float()
    if prediction == "epsilon":
        return x - out * sigma
    return x / (sigma ** 2 + 1) - out * sigma / (sigma ** 2 + 1) ** 0.5


def euler_cfg(unet, *, noise: torch.Tensor, sigmas: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor,
              cfg: float, prediction: str = "epsilon", start: torch.Tensor | None = None,
              added_cond: dict | None = None, added_uncond: dict | None = None, mask: torch.Tensor | None = None,
              scale: float = 0.18215) -> torch.Tensor:
    """The sampled latent in LATENT units. `start` is the encoded image (LATENT units) for img2img/inpainting."""
    unet = diffusers_unet(unet)
    latent = torch.zeros_like(noise) if start is None else start * scale
    first = float(sigmas[0])
    max_denoise = math.isclose(first, float(sd_log_sigmas()[-1].exp()), rel_tol=1e-5)
    x = latent + noise * ((1 + first ** 2) ** 0.5 if max_denoise else first)
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        if mask is not None:  # outside the mask the model sees the original at this noise level and it is kept
            x = x * mask + (latent + noise * sigma) * (1 - mask)
        x0_cond = denoised(unet, x, sigma, cond, prediction, added_cond)
        x0_uncond = denoised(unet, x, sigma, uncond, prediction, added_uncond)
        x0 = x0_uncond + (x0_cond - x0_uncond) * cfg
        if mask is not None:
            x0 = x0 * mask + latent * (1 - mask)
        x = x + (x - x0) / sigma * (sigma_next - sigma)
    return x / scale


def initial_noise(shape, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))
