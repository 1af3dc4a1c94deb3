"""sRGB <-> CIE Lab (D65 white, 2-degree observer) on channel-first tensors [..., 3, H, W], with kornia's constants
(which follow scikit-image): the colour space ColorTransfer matches statistics in."""
from __future__ import annotations

from typing import Any

RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169), (0.019334, 0.119193, 0.950227))
D65_WHITE = (0.95047, 1.0, 1.08883)
LINEAR_KNEE, CUBE_KNEE = 0.008856, 0.2068966  # where the Lab curve turns linear, in XYZ and in its cube root


def _mix(matrix: Any, image: Any) -> Any:
    """Each pixel's 3 channels times `matrix` (3x3)."""
    import torch

    return torch.einsum("ij,...jhw->...ihw", matrix.to(image), image)


def _white(image: Any) -> Any:
    import torch

    return torch.tensor(D65_WHITE, dtype=image.dtype, device=image.device)[:, None, None]


def rgb_to_lab(image: Any) -> Any:
    """sRGB in 0..1 -> L (0..100), a, b."""
    import torch

    linear = torch.where(image > 0.04045, torch.pow((image + 0.055) / 1.055, 2.4), image / 12.92)
    xyz = _mix(torch.tensor(RGB_TO_XYZ, dtype=torch.float64), linear) / _white(image)
    curved = torch.where(xyz > LINEAR_KNEE, torch.pow(xyz.clamp(min=LINEAR_KNEE), 1 / 3), 7.787 * xyz + 4 / 29)
    x, y, z = curved.unbind(-3)
    return torch.stack([116 * y - 16, 500 * (x - y), 200 * (y - z)], dim=-3)


def lab_to_rgb(lab: Any) -> Any:
    """L, a, b -> sRGB clamped to 0..1 (colours outside sRGB are clipped)."""
    import torch

    lightness, a, b = lab.unbind(-3)
    fy = (lightness + 16) / 116
    curved = torch.stack([a / 500 + fy, fy, (fy - b / 200).clamp(min=0)], dim=-3)
    xyz = torch.where(curved > CUBE_KNEE, torch.pow(curved, 3), (curved - 4 / 29) / 7.787) * _white(lab)
    linear = _mix(torch.linalg.inv(torch.tensor(RGB_TO_XYZ, dtype=torch.float64)), xyz)
    rgb = torch.where(linear > 0.0031308, 1.055 * torch.pow(linear.clamp(min=0.0031308), 1 / 2.4) - 0.055,
                      12.92 * linear)
    return rgb.clamp(0, 1)
