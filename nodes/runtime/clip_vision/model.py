"""CLIP_VISION and CLIP_VISION_OUTPUT: a loaded tower, ComfyUI's preprocessing, and what encoding an image gives."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..devices import model_manager
from .detection import IMAGE_MEAN, IMAGE_STD, ClipVisionLayout


class ClipVisionOutput:
    """What CLIPVisionEncode gives, as ComfyUI's Output: attributes that can also be read and set as items
    (`output["image_embeds"]`), as plugins do. All tensors are float32 on the CPU."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, key, value)

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__


@dataclass(eq=False)
class ClipVision:
    """What flows on a CLIP_VISION wire: the tower (transformers module) and what was detected about it."""

    module: torch.nn.Module
    layout: ClipVisionLayout
    source: str

    @property
    def image_size(self) -> int:
        return self.layout.image_size

    def encode_image(self, image: torch.Tensor, crop: bool = True) -> ClipVisionOutput:
        """Encode IMAGE [batch, height, width, channels] as ComfyUI does: image embeddings (the projected pooled
        output), the last layer's hidden states and the penultimate layer's."""
        pixels = clip_preprocess(image, self.image_size, crop=crop)
        manager = model_manager()
        manager.use(self.module)
        dtype = self.module.vision_model.embeddings.patch_embedding.weight.dtype
        with torch.no_grad():  # on the compute device even when the weights stream in from the offload device
            out = self.module(pixel_values=pixels.to(manager.compute_device, dtype), output_hidden_states=True)
        embeds = out.image_embeds if self.layout.projection else out.pooler_output
        return ClipVisionOutput(last_hidden_state=out.last_hidden_state.float().cpu(),
                                image_embeds=embeds.float().cpu(),
                                penultimate_hidden_states=out.hidden_states[-2].float().cpu(),
                                image_sizes=[tuple(pixels.shape[1:])] * pixels.shape[0], mm_projected=None)


def clip_preprocess(image: torch.Tensor, size: int, *, crop: bool = True, mean: Sequence[float] = IMAGE_MEAN,
                    std: Sequence[float] = IMAGE_STD) -> torch.Tensor:
    """[batch, 3, size, size] normalised pixels: RGB (alpha dropped), resized with antialiased bicubic so the short
    side is `size` and the centre cropped (crop) or squeezed to size x size (no crop), rounded to 8 bits, then
    normalised with CLIP's mean and deviation (or the per-channel `mean` and `std` given)."""
    pixels = image[..., :3].movedim(-1, 1).float()
    height, width = pixels.shape[-2:]
    if (height, width) != (size, size):
        if crop:
            scale = size / min(height, width)
            target = (round(scale * height), round(scale * width))
        else:
            target = (size, size)
        pixels = F.interpolate(pixels, size=target, mode="bicubic", antialias=True)
        top, left = (pixels.shape[-2] - size) // 2, (pixels.shape[-1] - size) // 2
        pixels = pixels[:, :, top:top + size, left:left + size]
    pixels = (pixels * 255).clamp(0, 255).round() / 255
    mean = torch.tensor(mean, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(std, device=pixels.device).view(1, 3, 1, 1)
    return (pixels - mean) / std
