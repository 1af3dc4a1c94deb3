"""ImageCropToMask (ComfyUI's comfy_extras.nodes_images): the masked subject cut out on a plain background, framed
to the output's aspect ratio and resized to it, as 3D pipelines (Trellis2, Pixal3D, ...) want their input.

Per image: a mask that looks inverted (bright border, dark centre) is flipped; it is grown or shrunk, faint values
dropped; an image larger than the output is first scaled down; the box around the clearly masked pixels is widened to
the output's aspect ratio times pad_factor (outside the image counts as background); the subject is composited over
the background colour and resized with Lanczos.
"""
from __future__ import annotations

import logging
import math

from graph_engine import InvalidNodeInput

from ..latent.resize import resize

PYTHON_MODULE = "comfy_extras.nodes_images"
log = logging.getLogger(__name__)
FAINT = 0.05  # mask values below this count as background
SOLID = 204  # in 8 bits: what counts as the subject when finding its box (80 %)


def hex_color(text: str) -> tuple[float, float, float]:
    """'#rrggbb' as red, green and blue in 0..1; any other length is black, as in ComfyUI."""
    digits = text.lstrip("#")
    if len(digits) != 6:
        return 0.0, 0.0, 0.0
    try:
        return tuple(int(digits[i:i + 2], 16) / 255.0 for i in (0, 2, 4))
    except ValueError:
        raise InvalidNodeInput(f"background {text!r} is not a colour: use '#rrggbb' in hexadecimal") from None


def looks_inverted(mask) -> bool:
    """A mask [H, W] whose border is mostly set and whose centre half is mostly not."""
    import torch

    height, width = mask.shape
    border = torch.cat([mask[0, :], mask[-1, :], mask[:, 0], mask[:, -1]])
    centre = mask[height // 4:height - height // 4, width // 4:width - width // 4]
    return float(border.mean()) > 0.5 and float(centre.mean()) < 0.5


def grown(mask, pixels: int):
    """The mask [1, 1, H, W] grown (pixels > 0) or shrunk (< 0) by a square of that radius."""
    import torch

    if pixels == 0:
        return mask
    radius = abs(pixels)

    def dilate(values):
        return torch.nn.functional.max_pool2d(values, kernel_size=2 * radius + 1, stride=1, padding=radius)

    return dilate(mask) if pixels > 0 else 1.0 - dilate(1.0 - mask)


def solid_pixels(alpha):
    """(row, column) of the pixels of an 8-bit mask [H, W] that are clearly the subject."""
    return (alpha > SOLID).nonzero()


def subject_box(solid, aspect_ratio: float, pad_factor: float) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) around the `solid` pixels, widened to `aspect_ratio` (width / height) and times pad_factor,
    centred on them as ComfyUI centres it (it may reach outside the image)."""
    y_min, x_min = solid.min(dim=0).values.tolist()
    y_max, x_max = solid.max(dim=0).values.tolist()
    box_width, box_height = x_max - x_min + 1, y_max - y_min + 1
    if box_width / max(box_height, 1) >= aspect_ratio:
        crop_width, crop_height = int(box_width * pad_factor), int(box_width / aspect_ratio * pad_factor)
    else:
        crop_width, crop_height = int(box_height * aspect_ratio * pad_factor), int(box_height * pad_factor)
    half_width, half_height = math.ceil(crop_width / 2), math.ceil(crop_height / 2)
    x1 = int((x_min + x_max) / 2.0 - half_width)
    y1 = int((y_min + y_max) / 2.0 - half_height)
    return x1, y1, x1 + 2 * half_width, y1 + 2 * half_height


def cut_out(image, mask, width: int, height: int, pad_factor: float, grow_mask: int, background):
    """One image [H, W, 3] and its mask [H, W] -> the composited, framed subject [1, 3, h, w], not yet resized."""
    import torch

    picture = image.permute(2, 0, 1)[None].float().clamp(0, 1)
    matte = mask[None, None].float().clamp(0, 1)
    if looks_inverted(matte[0, 0]):
        matte = 1.0 - matte
    matte = grown(matte, grow_mask)
    matte = torch.where(matte < FAINT, torch.zeros_like(matte), matte)
    rows, cols = picture.shape[-2:]
    largest = max(width, height)
    if max(rows, cols) > largest:
        scale = largest / max(rows, cols)
        cols, rows = int(cols * scale), int(rows * scale)
        picture, matte = resize(picture, cols, rows, "lanczos"), resize(matte, cols, rows, "lanczos")
    alpha = (matte[0, 0].clamp(0, 1) * 255.0).to(torch.uint8)
    solid = solid_pixels(alpha)
    if solid.numel() == 0 and solid_pixels(255 - alpha).numel() > 0:
        matte, solid = 1.0 - matte, solid_pixels(255 - alpha)  # only the inverse has a subject: it was inverted
    if solid.numel() > 0:
        x1, y1, x2, y2 = subject_box(solid, width / height, pad_factor)
    else:
        log.warning("ImageCropToMask: the mask is empty; the whole image is used")
        x1, y1, x2, y2 = 0, 0, cols, rows
    pads = (max(0, -x1), max(0, x2 - cols), max(0, -y1), max(0, y2 - rows))  # outside the image: background
    if any(pads):
        picture = torch.nn.functional.pad(picture, pads, value=0.0)
        matte = torch.nn.functional.pad(matte, pads, value=0.0)
        x1, x2, y1, y2 = x1 + pads[0], x2 + pads[0], y1 + pads[2], y2 + pads[2]
    picture, matte = picture[..., y1:y2, x1:x2], matte[..., y1:y2, x1:x2]
    fill = torch.tensor(background, dtype=picture.dtype).view(1, 3, 1, 1)
    return (picture * matte + fill * (1.0 - matte)).clamp(0, 1)


def masks_for(masks, batch: int, height: int, width: int):
    """The masks as [batch, height, width]: one mask serves every image; another size is resized bilinearly."""
    if masks.dim() == 2:
        masks = masks[None]
    if masks.shape[0] == 1 and batch > 1:
        masks = masks.expand(batch, -1, -1)
    elif masks.shape[0] != batch:
        raise InvalidNodeInput(f"masks has {masks.shape[0]} masks for {batch} images: give one mask, or one per image")
    if tuple(masks.shape[-2:]) != (height, width):
        masks = resize(masks[:, None].float(), width, height, "bilinear")[:, 0]
    return masks


class ImageCropToMask:
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    FUNCTION = "crop"
    DESCRIPTION = ("Cuts the masked subject out onto a plain background, framed with a margin to the output's aspect "
                   "ratio and resized to width x height.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": ("IMAGE",),
            "masks": ("MASK",),
            "width": ("INT", {"default": 1024, "min": 64, "max": 4096, "step": 8,
                              "tooltip": "Output width in pixels."}),
            "height": ("INT", {"default": 1024, "min": 64, "max": 4096, "step": 8,
                               "tooltip": "Output height in pixels."}),
            "pad_factor": ("FLOAT", {"default": 1.0, "min": 1.0, "max": 2.0, "step": 0.01,
                                     "tooltip": "Extra margin around the mask bounding box as a multiplier."}),
            "grow_mask": ("INT", {"default": 0, "min": -32, "max": 32, "step": 1,
                                  "tooltip": "Grow or shrink the mask by this many pixels before cropping."}),
            "background": ("COLOR", {"default": "#000000", "socketless": True,
                                     "tooltip": "Background color behind the masked subject."}),
        }}

    def crop(self, images, masks, width: int, height: int, pad_factor: float, grow_mask: int, background: str):
        import torch

        fill = hex_color(background)
        images = images[..., :3]
        masks = masks_for(masks, images.shape[0], images.shape[1], images.shape[2])
        framed = [resize(cut_out(image, mask, width, height, pad_factor, grow_mask, fill), width, height, "lanczos")
                  for image, mask in zip(images, masks)]
        return (torch.cat(framed).movedim(1, -1).to(torch.float32),)


NODE_CLASS_MAPPINGS = {"ImageCropToMask": ImageCropToMask}
NODE_DISPLAY_NAME_MAPPINGS = {"ImageCropToMask": "Crop Image to Mask"}
