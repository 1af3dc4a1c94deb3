"""ComfyUI's CLIP preprocessing computed independently with PIL and numpy, for the vision tests."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073])[:, None, None]
STD = np.array([0.26862954, 0.26130258, 0.27577711])[:, None, None]


def clip_pixels(image: torch.Tensor, size: int, crop: bool = True) -> torch.Tensor:
    """[batch, 3, size, size]: each RGB channel resized with PIL's bicubic (short side to `size`, centre crop; or
    squeezed to size x size), rounded to 8 bits, normalised with CLIP's mean and deviation."""
    out = []
    for picture in image[..., :3].numpy():
        height, width = picture.shape[:2]
        if crop:
            scale = size / min(height, width)
            target = (round(scale * height), round(scale * width))
        else:
            target = (size, size)
        channels = np.stack([np.asarray(Image.fromarray(picture[:, :, c], mode="F").resize(
            (target[1], target[0]), Image.BICUBIC)) for c in range(3)])
        top, left = (target[0] - size) // 2, (target[1] - size) // 2
        channels = channels[:, top:top + size, left:left + size]
        channels = np.round(np.clip(channels * 255, 0, 255)) / 255
        out.append((channels - MEAN) / STD)
    return torch.tensor(np.stack(out), dtype=torch.float32)
