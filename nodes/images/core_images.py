"""The image nodes of ComfyUI's core module: EmptyImage, ImageBatch, ImageInvert and ImagePadForOutpaint."""
from __future__ import annotations

from graph_engine import InvalidNodeInput
from graph_engine.estimate import NodeEstimate, ValueSize

from ..latent.image_scale import new_image
from ..latent.resize import MAX_RESOLUTION, resize

PYTHON_MODULE = "nodes"
OUTPAINT_GREY = 0.5  # the value new pixels get before the sampler paints them


def color_channels(color: int) -> tuple[float, float, float]:
    """0xRRGGBB as red, green and blue in 0..1."""
    return ((color >> 16) & 0xFF) / 255.0, ((color >> 8) & 0xFF) / 255.0, (color & 0xFF) / 255.0


class EmptyImage:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "generate"
    DESCRIPTION = "A batch of images of one colour (0xRRGGBB)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "width": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
            "height": ("INT", {"default": 512, "min": 1, "max": MAX_RESOLUTION, "step": 1}),
            "batch_size": ("INT", {"default": 1, "min": 1, "max": 4096}),
            "color": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFF, "step": 1, "display": "color"}),
        }}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        width, height, batch = inputs.get("width"), inputs.get("height"), inputs.get("batch_size")
        return None if None in (width, height, batch) else new_image(batch, height, width, 3)

    def generate(self, width: int, height: int, batch_size: int = 1, color: int = 0):
        import torch

        rgb = torch.tensor(color_channels(color), dtype=torch.float32)
        return (rgb.expand(batch_size, height, width, 3).clone(),)


def with_channels(image, channels: int, which: str):
    """`image` with an opaque alpha channel added when it has 3 channels and 4 are wanted."""
    import torch

    have = image.shape[-1]
    if have == channels:
        return image
    if (have, channels) != (3, 4):
        raise InvalidNodeInput(f"{which} has {have} channels and the other image {channels}: only RGB and RGBA "
                               "images can be batched together")
    return torch.nn.functional.pad(image, (0, 1), mode="constant", value=1.0)


class ImageBatch:
    CATEGORY = "image/batch"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "batch"
    DEPRECATED = True
    DESCRIPTION = ("Joins two image batches into one; image2 is resized (bilinear, centre-cropped) to image1's size, "
                   "and an RGB image gets an opaque alpha channel to join an RGBA one.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image1": ("IMAGE",), "image2": ("IMAGE",)}}

    def batch(self, image1, image2):
        import torch

        channels = max(image1.shape[-1], image2.shape[-1])
        image1 = with_channels(image1, channels, "image1")
        image2 = with_channels(image2, channels, "image2")
        if image1.shape[1:] != image2.shape[1:]:
            height, width = image1.shape[1], image1.shape[2]
            image2 = resize(image2.movedim(-1, 1), width, height, "bilinear", "center").movedim(1, -1)
        return (torch.cat((image1, image2.to(image1.dtype)), dim=0),)


class ImageInvert:
    CATEGORY = "image/color"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "invert"
    DESCRIPTION = "Each channel becomes 1 minus itself."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        known = sizes.get("image")
        return None if known is None else NodeEstimate((known,), known.nbytes, "the inverted copy")

    def invert(self, image):
        return (1.0 - image,)


def outpaint_feather(height: int, width: int, sides: tuple[int, int, int, int], feathering: int):
    """The mask over the original pixels: 0 inside, rising as ((feathering - d) / feathering)^2 within `feathering`
    pixels of each padded side (d counted from that side's edge; an unpadded side does not count)."""
    import torch

    left, top, right, bottom = sides
    mask = torch.zeros((height, width), dtype=torch.float32)
    if feathering <= 0 or feathering * 2 >= height or feathering * 2 >= width:
        return mask
    rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)
    cols = torch.arange(width, dtype=torch.float32)[None, :].expand(height, width)
    far_rows, far_cols = torch.full_like(rows, height), torch.full_like(cols, width)
    distance = torch.stack([
        rows if top else far_rows, height - rows if bottom else far_rows,
        cols if left else far_cols, width - cols if right else far_cols,
    ]).amin(dim=0)
    ramp = ((feathering - distance) / feathering) ** 2
    return torch.where(distance < feathering, ramp, mask)


class ImagePadForOutpaint:
    CATEGORY = "image/transform"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "expand_image"
    DESCRIPTION = ("Grows the canvas by grey borders for outpainting; the mask is 1 on the new border and fades "
                   "into the picture over `feathering` pixels along the padded sides.")

    @classmethod
    def INPUT_TYPES(cls):
        side = {"default": 0, "min": 0, "max": MAX_RESOLUTION, "step": 8}
        return {"required": {
            "image": ("IMAGE",),
            "left": ("INT", dict(side)), "top": ("INT", dict(side)),
            "right": ("INT", dict(side)), "bottom": ("INT", dict(side)),
            "feathering": ("INT", {"default": 40, "min": 0, "max": MAX_RESOLUTION, "step": 1, "advanced": True}),
        }}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        known, sides = sizes.get("image"), [inputs.get(k) for k in ("left", "top", "right", "bottom")]
        if known is None or None in sides:
            return None
        batch, height, width, channels = known.shape
        height, width = height + sides[1] + sides[3], width + sides[0] + sides[2]
        image, mask = ValueSize.array((batch, height, width, channels)), ValueSize.array((1, height, width))
        return NodeEstimate((image, mask), image.nbytes + mask.nbytes, "the padded image and its mask")

    def expand_image(self, image, left: int, top: int, right: int, bottom: int, feathering: int):
        import torch

        batch, height, width, channels = image.shape
        padded = torch.full((batch, height + top + bottom, width + left + right, channels), OUTPAINT_GREY,
                            dtype=torch.float32)
        padded[:, top:top + height, left:left + width, :] = image
        mask = torch.ones(padded.shape[1:3], dtype=torch.float32)
        mask[top:top + height, left:left + width] = outpaint_feather(height, width, (left, top, right, bottom),
                                                                     feathering)
        return (padded, mask.unsqueeze(0))


NODE_CLASS_MAPPINGS = {"EmptyImage": EmptyImage, "ImageBatch": ImageBatch, "ImageInvert": ImageInvert,
                       "ImagePadForOutpaint": ImagePadForOutpaint}
NODE_DISPLAY_NAME_MAPPINGS = {"EmptyImage": "Empty Image", "ImageBatch": "Batch Images (DEPRECATED)",
                              "ImageInvert": "Invert Image Colors", "ImagePadForOutpaint": "Pad Image for Outpainting"}
