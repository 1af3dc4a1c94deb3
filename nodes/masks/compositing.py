"""ComfyUI's compositing nodes (comfy_extras.nodes_compositing): Porter-Duff compositing, and an image's alpha
taken off as a MASK or put back from one (a MASK is 1 - alpha)."""
from __future__ import annotations

from graph_engine import InvalidNodeInput

from ..latent.resize import resize
from .batches import image_batch, mask_batch, repeat_to_batch
from .porter_duff import MODES, porter_duff_composite

PYTHON_MODULE = "comfy_extras.nodes_compositing"


def _to_size(samples, height: int, width: int):
    """Channel-first `samples` resized to height x width (bicubic, centre-cropped to the aspect) unless already so."""
    if tuple(samples.shape[-2:]) == (height, width):
        return samples
    return resize(samples, width, height, "bicubic", "center")


class PorterDuffImageComposite:
    CATEGORY = "image/compositing"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "composite"
    DESCRIPTION = ("Composite the source over the destination by a Porter-Duff mode; the masks are 1 - alpha. The "
                   "source and its mask are resized to the destination's size.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"source": ("IMAGE",), "source_alpha": ("MASK",), "destination": ("IMAGE",),
                             "destination_alpha": ("MASK",), "mode": (list(MODES), {"default": "DST"})}}

    def composite(self, source, source_alpha, destination, destination_alpha, mode: str):
        source, destination = image_batch(source, "source"), image_batch(destination, "destination")
        source_alpha = mask_batch(source_alpha, "source_alpha")
        destination_alpha = mask_batch(destination_alpha, "destination_alpha")
        if source.shape[-1] != destination.shape[-1]:
            raise InvalidNodeInput(f"source has {source.shape[-1]} channels and destination {destination.shape[-1]}: "
                                   "give both the same (SplitImageWithAlpha takes an alpha channel off)")
        if mode not in MODES:
            raise InvalidNodeInput(f"mode {mode!r}: use one of {', '.join(MODES)}")
        count = min(len(source), len(source_alpha), len(destination), len(destination_alpha))
        height, width = destination.shape[1:3]
        source = _to_size(source[:count].movedim(-1, 1), height, width).movedim(1, -1)
        source_alpha = _to_size(source_alpha[:count, None], height, width).movedim(1, -1)
        destination_alpha = _to_size(destination_alpha[:count, None], height, width).movedim(1, -1)
        image, mask = porter_duff_composite(source, source_alpha, destination[:count], destination_alpha, mode)
        return (image, mask[..., 0])


class SplitImageWithAlpha:
    CATEGORY = "image/compositing"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "split_image_with_alpha"
    DESCRIPTION = "The image's RGB, and its alpha as a mask (1 - alpha; all 0 for an image without alpha)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",)}}

    def split_image_with_alpha(self, image):
        import torch

        image = image_batch(image)
        alpha = image[..., 3] if image.shape[-1] > 3 else torch.ones_like(image[..., 0])
        return (image[..., :3], 1.0 - alpha)


class JoinImageWithAlpha:
    CATEGORY = "image/compositing"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "join_image_with_alpha"
    DESCRIPTION = ("The image's RGB with 1 - alpha as its alpha channel; the mask is resized (bilinear) to the "
                   "image, and the shorter batch is repeated.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "alpha": ("MASK",)}}

    def join_image_with_alpha(self, image, alpha):
        import torch
        import torch.nn.functional as F

        image = image_batch(image)
        mask = mask_batch(alpha, "alpha").to(image)
        mask = F.interpolate(mask[:, None], size=tuple(image.shape[1:3]), mode="bilinear")[:, 0]
        count = max(len(image), len(mask))
        opacity = repeat_to_batch(1.0 - mask, count)
        return (torch.cat((repeat_to_batch(image, count)[..., :3], opacity[..., None]), dim=-1),)


NODE_CLASS_MAPPINGS = {"PorterDuffImageComposite": PorterDuffImageComposite,
                       "SplitImageWithAlpha": SplitImageWithAlpha, "JoinImageWithAlpha": JoinImageWithAlpha}
NODE_DISPLAY_NAME_MAPPINGS = {"PorterDuffImageComposite": "Porter-Duff Image Composite",
                              "SplitImageWithAlpha": "Split Image with Alpha", "JoinImageWithAlpha": "Join Image with Alpha"}
