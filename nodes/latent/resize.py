"""The resize shared by the latent and image scaling nodes: optional center crop, then interpolation.

Works on channel-first tensors ``[B, C, H, W]``. torch, numpy and Pillow load only when a resize runs.
"""
from __future__ import annotations

MAX_RESOLUTION = 16384
INTERPOLATE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic")
IMAGE_METHODS = (*INTERPOLATE_METHODS, "lanczos")
LATENT_METHODS = (*INTERPOLATE_METHODS, "bislerp")
CROP_METHODS = ("disabled", "center")


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """(width, height) times `scale`, each side rounded to whole pixels (or cells) and at least 1."""
    return max(1, round(width * scale)), max(1, round(height * scale))


def center_crop_offsets(old_width: int, old_height: int, width: int, height: int) -> tuple[int, int]:
    """Pixels to drop on each side (x from left and right, y from top and bottom) so the kept part has the
    target's aspect ratio, rounded as ComfyUI rounds them."""
    old_aspect = old_width / old_height
    new_aspect = width / height
    x = y = 0
    if old_aspect > new_aspect:  # too wide: trim left and right
        kept = old_width * (new_aspect / old_aspect)
        x = round((old_width - kept) / 2)
    elif old_aspect < new_aspect:  # too tall: trim top and bottom
        kept = old_height * (old_aspect / new_aspect)
        y = round((old_height - kept) / 2)
    return x, y


def _lanczos(samples, width: int, height: int):
    """Pillow's Lanczos filter per image, through 8-bit RGB(A)/L like ComfyUI; returns the input's device and dtype."""
    import numpy as np
    import torch
    from PIL import Image

    resized = []
    for image in samples:
        array = image.movedim(0, -1).detach().float().cpu().numpy()
        single = array.shape[-1] == 1
        if single:
            array = array[..., 0]
        pixels = np.clip(255.0 * array, 0, 255).astype(np.uint8)
        out = np.asarray(Image.fromarray(pixels).resize((width, height), resample=Image.Resampling.LANCZOS))
        out = out.astype(np.float32) / 255.0
        if single:
            out = out[..., None]
        resized.append(torch.from_numpy(out).movedim(-1, 0))
    return torch.stack(resized).to(samples.device, samples.dtype)


def _axis_blend(old: int, new: int, device):
    """Where each of `new` output positions falls between two of `old` source positions (half-pixel centres,
    as bilinear interpolation places them): the lower index, the upper index and the fraction past the lower."""
    import torch

    grid = torch.arange(old, dtype=torch.float32, device=device).reshape(1, 1, 1, old)
    position = torch.nn.functional.interpolate(grid, size=(1, new), mode="bilinear").reshape(new)
    lower = position.to(torch.int64)
    upper = torch.clamp(lower + 1, max=old - 1)
    return lower, upper, position - lower


def _slerp_channels(a, b, t):
    """Spherical blend of channel vectors a and b ([N, C]) by t ([N, 1]); the length blends linearly.
    Nearly equal directions keep a; nearly opposite ones blend linearly (ComfyUI's bislerp rules)."""
    import torch

    a_len = torch.linalg.vector_norm(a, dim=-1, keepdim=True)
    b_len = torch.linalg.vector_norm(b, dim=-1, keepdim=True)
    a_dir = torch.where(a_len == 0, torch.zeros_like(a), a / a_len)
    b_dir = torch.where(b_len == 0, torch.zeros_like(b), b / b_len)
    cos = (a_dir * b_dir).sum(-1, keepdim=True)
    angle = torch.acos(cos)
    sin = torch.sin(angle)
    blended = (torch.sin((1.0 - t) * angle) * a_dir + torch.sin(t * angle) * b_dir) / sin
    blended = blended * (a_len * (1.0 - t) + b_len * t)
    blended = torch.where(cos < 1e-5 - 1, a * (1.0 - t) + b * t, blended)
    return torch.where(cos > 1 - 1e-5, a, blended)


def _bislerp_axis(samples, new: int, dim: int):
    """Resize one spatial axis (dim -1 or -2) of [B, C, H, W] by slerping channel vectors of neighbours."""
    lower, upper, t = _axis_blend(samples.shape[dim], new, samples.device)
    moved = samples.movedim(dim, -1)  # [B, C, other, old]
    first = moved.index_select(-1, lower).movedim(1, -1)  # [B, other, new, C]
    second = moved.index_select(-1, upper).movedim(1, -1)
    channels = first.shape[-1]
    weight = t.reshape(1, 1, new, 1).expand(*first.shape[:-1], 1).reshape(-1, 1)
    out = _slerp_channels(first.reshape(-1, channels), second.reshape(-1, channels), weight)
    return out.reshape(first.shape).movedim(-1, 1).movedim(-1, dim)


def _bislerp(samples, width: int, height: int):
    """ComfyUI's "bislerp" latent resize: bilinear placement, spherical blending of the channel vectors,
    width first then height; computed in float32, returned in the input's dtype."""
    dtype = samples.dtype
    out = _bislerp_axis(samples.float(), width, -1)
    out = _bislerp_axis(out, height, -2)
    return out.to(dtype)


def resize(samples, width: int, height: int, method: str, crop: str = "disabled"):
    """Resize ``samples`` ``[B, C, H, W]`` to ``[B, C, height, width]``; ``crop="center"`` first trims the
    source to the target aspect ratio."""
    import torch

    if width < 1 or height < 1:
        raise ValueError(f"cannot resize to {width}x{height}: both sides must be at least 1")
    if crop not in CROP_METHODS:
        raise ValueError(f"unknown crop {crop!r}: use one of {', '.join(CROP_METHODS)}")
    if crop == "center":
        old_height, old_width = samples.shape[-2], samples.shape[-1]
        x, y = center_crop_offsets(old_width, old_height, width, height)
        samples = samples[..., y:old_height - y, x:old_width - x]
    if method == "lanczos":
        return _lanczos(samples, width, height)
    if method == "bislerp":
        return _bislerp(samples, width, height)
    if method not in INTERPOLATE_METHODS:
        raise ValueError(f"unknown upscale method {method!r}: use one of {', '.join((*IMAGE_METHODS, 'bislerp'))}")
    return torch.nn.functional.interpolate(samples, size=(height, width), mode=method)
