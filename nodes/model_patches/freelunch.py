"""ComfyUI's comfy_extras.nodes_freelunch: FreeU and FreeU_V2, output block patches that strengthen the decoder's
backbone features and damp the low frequencies of the skip features joined to them."""
from __future__ import annotations

import logging
from typing import Any, Callable

from .unet_patch_node import UNetPatchNode

PYTHON_MODULE = "comfy_extras.nodes_freelunch"
LOG = logging.getLogger(__name__)
FILTER_THRESHOLD = 1  # half-width of the centred low-frequency square the skip's spectrum scales


def fourier_filter(x: Any, threshold: int, scale: float) -> Any:
    """`x` [B, C, H, W] with the centred (2 threshold)^2 lowest spatial frequencies scaled by `scale`, in float32,
    returned in x's dtype."""
    import torch

    spectrum = torch.fft.fftshift(torch.fft.fftn(x.float(), dim=(-2, -1)), dim=(-2, -1))
    height, width = spectrum.shape[-2:]
    row, col = height // 2, width // 2
    weights = torch.ones(spectrum.shape[-2:], device=x.device)
    weights[row - threshold:row + threshold, col - threshold:col + threshold] = scale
    spectrum = torch.fft.ifftshift(spectrum * weights, dim=(-2, -1))
    return torch.fft.ifftn(spectrum, dim=(-2, -1)).real.to(x.dtype)


def model_channels(model: Any) -> int:
    """The UNet's base width (ComfyUI's unet_config["model_channels"]): its first level's channels."""
    return int(model.unet.config.block_out_channels[0])


def _filtered_skip(skip: Any, scale: float, fft_on_cpu: set) -> Any:
    """The skip through fourier_filter on its device, or on the CPU where that device has no FFT (remembered)."""
    if skip.device not in fft_on_cpu:
        try:
            return fourier_filter(skip, FILTER_THRESHOLD, scale)
        except RuntimeError:
            LOG.warning("device %s cannot run the FFT FreeU needs; FreeU filters on the CPU instead", skip.device)
            fft_on_cpu.add(skip.device)
    return fourier_filter(skip.cpu(), FILTER_THRESHOLD, scale).to(skip.device)


def freeu_patch(model: Any, b1: float, b2: float, s1: float, s2: float,
                backbone_factor: Callable[[Any, float], Any]) -> Callable:
    """The output block patch: where h has 4x (b1, s1) or 2x (b2, s2) the base width, h's first half of channels
    times backbone_factor(h, b) and the skip filtered with s; other blocks pass."""
    import torch

    width = model_channels(model)
    scales = {width * 4: (float(b1), float(s1)), width * 2: (float(b2), float(s2))}
    fft_on_cpu: set = set()

    def output_block_patch(h: Any, skip: Any, transformer_options: dict) -> tuple:
        scale = scales.get(int(h.shape[1]))
        if scale is None:
            return h, skip
        half = h.shape[1] // 2
        h = torch.cat([h[:, :half] * backbone_factor(h, scale[0]), h[:, half:]], dim=1)
        return h, _filtered_skip(skip, scale[1], fft_on_cpu)

    return output_block_patch


def constant_factor(h: Any, b: float) -> float:
    """FreeU: the backbone scaled by b everywhere."""
    return b


def structure_factor(h: Any, b: float) -> Any:
    """FreeU v2: the scale grows from 1 to b with the channel mean of h, min-max normalised over each sample."""
    mean = h.mean(1, keepdim=True)
    flat = mean.flatten(1)
    low = flat.min(dim=1).values.reshape(-1, 1, 1, 1)
    high = flat.max(dim=1).values.reshape(-1, 1, 1, 1)
    return (b - 1.0) * ((mean - low) / (high - low)) + 1.0


class FreeU(UNetPatchNode):
    BACKBONE_DEFAULTS = (1.1, 1.2)  # b1, b2
    backbone_factor = staticmethod(constant_factor)

    @classmethod
    def INPUT_TYPES(cls):
        def factor(default: float) -> tuple:
            return ("FLOAT", {"default": default, "min": 0.0, "max": 10.0, "step": 0.01, "advanced": True})
        b1, b2 = cls.BACKBONE_DEFAULTS
        return {"required": {"model": ("MODEL", {}), "b1": factor(b1), "b2": factor(b2), "s1": factor(0.9),
                             "s2": factor(0.2)}}

    def patch(self, model: Any, b1: float, b2: float, s1: float, s2: float):
        """The decoder's backbone features times b (FreeU: everywhere; v2: following where the features are
        strong), the skip features' low frequencies times s."""
        patched = model.clone()
        patched.set_model_output_block_patch(freeu_patch(model, b1, b2, s1, s2, self.backbone_factor))
        return (patched,)


class FreeU_V2(FreeU):
    BACKBONE_DEFAULTS = (1.3, 1.4)
    backbone_factor = staticmethod(structure_factor)


NODE_CLASS_MAPPINGS = {"FreeU": FreeU, "FreeU_V2": FreeU_V2}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
