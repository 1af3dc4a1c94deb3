"""A LoRA from a model difference (ComfyUI's LoraSave): each weight difference factored by SVD into lora_up @
lora_down of a given rank, or kept whole (`full_diff`), in ComfyUI's key layout (`diffusion_model.<original name>`,
`text_encoders.clip_l.transformer.*`), which key_map.py reads back.

Like ComfyUI, the factors are U * S and Vh truncated to the rank, both clamped to the 99th percentile of their
joint values (a few outliers would otherwise dominate a half-precision file), and stored as float16. Without
`bias_diff` only weights of two or more dimensions are written; with it, 1-D weights (norms) as `.diff` and biases
as `.diff_b`.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

CLAMP_QUANTILE = 0.99
LORA_TYPES = ("standard", "full_diff")


def low_rank_factors(diff: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(up, down) with up @ down ~ diff; convolution weights come back as [out, r, 1, 1] and [r, in, kh, kw]."""
    out_dim, in_dim = diff.shape[:2]
    rank = min(rank, in_dim, out_dim)
    matrix = diff.float().flatten(1)
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    up, down = u[:, :rank] * s[:rank], vh[:rank, :]
    limit = torch.quantile(torch.cat([up.flatten(), down.flatten()]), CLAMP_QUANTILE)
    up, down = up.clamp(-limit, limit), down.clamp(-limit, limit)
    if diff.dim() == 4:
        return up.reshape(out_dim, rank, 1, 1), down.reshape(rank, in_dim, *diff.shape[2:])
    return up, down


def lora_tensors(parameters: Mapping[str, torch.Tensor], model_prefix: str, lora_prefix: str, rank: int,
                 lora_type: str, bias_diff: bool) -> dict[str, torch.Tensor]:
    """The LoRA file's tensors for the difference `parameters` (ComfyUI keys starting with `model_prefix`)."""
    if lora_type not in LORA_TYPES:
        raise ValueError(f"lora_type must be one of {', '.join(LORA_TYPES)}, not {lora_type!r}")
    out: dict[str, torch.Tensor] = {}
    for key, tensor in parameters.items():
        if not key.startswith(model_prefix):
            continue
        layer, _, kind = key[len(model_prefix):].rpartition(".")
        name = lora_prefix + layer
        if kind == "bias" and bias_diff:
            out[f"{name}.diff_b"] = _stored(tensor)
        elif kind != "weight":
            continue
        elif lora_type == "full_diff":
            out[f"{name}.diff"] = _stored(tensor)
        elif tensor.dim() < 2:
            if bias_diff:
                out[f"{name}.diff"] = _stored(tensor)
        else:
            up, down = low_rank_factors(tensor, rank)
            out[f"{name}.lora_up.weight"], out[f"{name}.lora_down.weight"] = _stored(up), _stored(down)
    return out


def _stored(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", torch.float16).contiguous()
