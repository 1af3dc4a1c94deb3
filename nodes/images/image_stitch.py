"""ImageStitch (ComfyUI's comfy_extras.nodes_images): two images side by side or one above the other, with an
optional coloured gap."""
from __future__ import annotations

from ..latent.resize import resize

PYTHON_MODULE = "comfy_extras.nodes_images"
DIRECTIONS = ("right", "down", "left", "up")
SPACING_COLORS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "red": (1.0, 0.0, 0.0),
                  "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}
GREYS = {"white": 1.0, "black": 0.0}  # the colours that also fill the padding of images of unequal size


def repeat_last_to(image, batch: int):
    """The batch made `batch` long by repeating its last image."""
    import torch

    missing = batch - image.shape[0]
    return image if missing <= 0 else torch.cat([image, image[-1:].repeat(missing, 1, 1, 1)])


def pad_centred(image, size: int, dim: int, value: float):
    """`image` padded along `dim` (1 = height, 2 = width) to `size`, the extra split around it (more after)."""
    import torch

    missing = size - image.shape[dim]
    if missing <= 0:
        return image
    before, after = missing // 2, missing - missing // 2
    pads = (0, 0, before, after) if dim == 2 else (0, 0, 0, 0, before, after)
    return torch.nn.functional.pad(image, pads, mode="constant", value=value)


def opaque_channels(image, channels: int):
    """`image` with channels of 1.0 added up to `channels`."""
    import torch

    missing = channels - image.shape[-1]
    if missing <= 0:
        return image
    return torch.cat([image, torch.ones((*image.shape[:-1], missing), dtype=image.dtype, device=image.device)], dim=-1)


def spacing_strip(shape: tuple[int, int, int, int], color: str, like):
    """The gap between the images: the colour in the first three channels, an opaque alpha in a fourth."""
    import torch

    strip = torch.zeros(shape, dtype=like.dtype, device=like.device)
    for channel, value in enumerate(SPACING_COLORS[color][:min(3, shape[-1])]):
        strip[..., channel] = value
    if shape[-1] == 4:
        strip[..., 3] = 1.0
    return strip


class ImageStitch:
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "stitch"
    DESCRIPTION = ("Stitches image2 to image1 in the specified direction.\n"
                   "If image2 is not provided, returns image1 unchanged.\n"
                   "Optional spacing can be added between images.")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image1": ("IMAGE",),
                "direction": ("COMBO", {"options": list(DIRECTIONS), "default": "right"}),
                "match_image_size": ("BOOLEAN", {"default": True}),
                "spacing_width": ("INT", {"default": 0, "min": 0, "max": 1024, "step": 2, "advanced": True}),
                "spacing_color": ("COMBO", {"options": list(SPACING_COLORS), "default": "white", "advanced": True}),
            },
            "optional": {"image2": ("IMAGE",)},
        }

    def stitch(self, image1, direction: str, match_image_size: bool, spacing_width: int, spacing_color: str,
               image2=None):
        import torch

        if image2 is None:
            return (image1,)
        batch = max(image1.shape[0], image2.shape[0])
        image1, image2 = repeat_last_to(image1, batch), repeat_last_to(image2, batch)
        side_by_side = direction in ("left", "right")
        across = 1 if side_by_side else 2  # the dimension both images must share: height, or width
        if match_image_size:
            height, width = image2.shape[1:3]
            if side_by_side:
                size = (max(1, int(image1.shape[1] * (width / height))), image1.shape[1])
            else:
                size = (image1.shape[2], max(1, int(image1.shape[2] / (width / height))))
            image2 = resize(image2.movedim(-1, 1), *size, "lanczos").movedim(1, -1)
        else:
            size = max(image1.shape[across], image2.shape[across])
            fill = GREYS.get(spacing_color, 0.0)
            image1, image2 = pad_centred(image1, size, across, fill), pad_centred(image2, size, across, fill)
        channels = max(image1.shape[-1], image2.shape[-1])
        image1, image2 = opaque_channels(image1, channels), opaque_channels(image2, channels)
        parts = [image2, image1] if direction in ("left", "up") else [image1, image2]
        if spacing_width > 0:
            gap = spacing_width + spacing_width % 2
            shared = max(image1.shape[across], image2.shape[across])
            shape = (batch, shared, gap, channels) if side_by_side else (batch, gap, shared, channels)
            parts.insert(1, spacing_strip(shape, spacing_color, image1))
        return (torch.cat(parts, dim=2 if side_by_side else 1),)


NODE_CLASS_MAPPINGS = {"ImageStitch": ImageStitch}
NODE_DISPLAY_NAME_MAPPINGS = {"ImageStitch": "Stitch Images"}
