"""IMAGE tensors to 8-bit pixel arrays and back (torch, numpy and Pillow load here, on first use)."""
from __future__ import annotations

from typing import Any, Callable

from graph_engine import InvalidNodeInput


def refuse_images_without_pixels(shape: tuple[int, ...]) -> None:
    """A saver's error for an IMAGE [B, H, W, C] of zero height or width: no file format holds it."""
    if shape[1] == 0 or shape[2] == 0:
        raise InvalidNodeInput(f"the images are {shape[2]}x{shape[1]} pixels: there is nothing to save. Check the node "
                               "that made them (a crop or resize to zero size).")


def to_uint8_batch(images: Any) -> list:
    """[B,H,W,C] (or [H,W,C]) floats in 0..1 -> list of uint8 arrays [H,W,C], as ComfyUI: clip(255*x), truncated."""
    import numpy as np

    shape = tuple(getattr(images, "shape", ()))
    if len(shape) == 3:
        images = images[None]
        shape = (1, *shape)
    if len(shape) != 4 or shape[-1] not in (1, 3, 4):
        raise InvalidNodeInput("images must be an IMAGE tensor [batch, height, width, 1|3|4 channels], got shape "
                               f"{shape}")
    refuse_images_without_pixels(shape)
    import torch

    tensor = images.detach() if hasattr(images, "detach") else torch.from_numpy(np.asarray(images, dtype=np.float32))
    # torch does it in one pass on all cores: numpy's nan_to_num alone took 2.5 ms of a 512 px save
    scaled = torch.nan_to_num(tensor.float().cpu() * 255.0, nan=0.0, posinf=255.0, neginf=0.0)
    pixels = scaled.clamp_(0, 255).to(torch.uint8).numpy()
    return [frame[..., 0] if frame.shape[-1] == 1 else frame for frame in pixels]


def pil_frames_to_tensors(image: Any, count_frame: Callable[[int, int], None]) -> tuple[Any, Any]:
    """A Pillow image (maybe several frames) -> (IMAGE [N,H,W,3] float32, MASK [N,H,W] = 1 - alpha), as ComfyUI.

    `count_frame(width, height)` is called before each frame is decoded, and raises to stop at a limit."""
    import numpy as np
    import torch
    from PIL import ImageOps, ImageSequence

    frames, masks = [], []
    size = None
    for frame in ImageSequence.Iterator(image):
        count_frame(*frame.size)
        frame = ImageOps.exif_transpose(frame)
        if frame.mode == "I":
            frame = frame.point(lambda value: value * (1 / 255))
        rgb = frame.convert("RGB")
        if size is None:
            size = rgb.size
        elif rgb.size != size:
            continue  # frames of another size cannot join the batch
        frames.append(torch.from_numpy(np.array(rgb).astype(np.float32) / 255.0))
        if "A" in frame.getbands():
            alpha = np.array(frame.getchannel("A")).astype(np.float32) / 255.0
            masks.append(1.0 - torch.from_numpy(alpha))
        elif frame.mode == "P" and "transparency" in frame.info:
            alpha = np.array(frame.convert("RGBA").getchannel("A")).astype(np.float32) / 255.0
            masks.append(1.0 - torch.from_numpy(alpha))
        else:
            masks.append(torch.zeros((64, 64), dtype=torch.float32))
        if image.format == "MPO":
            break  # the other frames of an MPO are previews, not animation
    if not frames:
        raise InvalidNodeInput("the image file holds no frames")
    if any(mask.shape != masks[0].shape for mask in masks):
        # some frames with alpha, some without: ones without get an all-kept mask of the image size
        masks = [mask if mask.shape == frames[0].shape[:2] else torch.zeros(frames[0].shape[:2]) for mask in masks]
    return torch.stack(frames), torch.stack(masks)
