"""InpaintModelConditioning: the image and mask an inpainting model (a 9-channel UNet) reads beside the noise."""
from __future__ import annotations

from graph_engine import InvalidNodeInput

from .conditioning import with_options


def check_mask_batch(mask, pixels) -> None:
    """A mask batch must be one mask for all images or one per image."""
    import torch

    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3, 4):
        raise InvalidNodeInput("mask must be a MASK tensor [batch, height, width]")
    batch = mask.shape[0] if mask.ndim >= 3 else 1
    if batch not in (1, pixels.shape[0]):
        raise InvalidNodeInput(f"mask has a batch of {batch} and pixels a batch of {pixels.shape[0]}; give one mask "
                               f"for all images or one per image")


class InpaintModelConditioning:
    CATEGORY = "model/conditioning"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING", "LATENT")
    RETURN_NAMES = ("positive", "negative", "latent")
    FUNCTION = "encode"
    DESCRIPTION = ("For inpainting models: both prompts carry the image with the masked part greyed out, encoded, "
                   "and the mask; the latent is the whole image encoded, with the mask as its noise mask.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"positive": ("CONDITIONING",), "negative": ("CONDITIONING",), "vae": ("VAE",),
                             "pixels": ("IMAGE",), "mask": ("MASK",),
                             "noise_mask": ("BOOLEAN", {"default": True, "tooltip": (
                                 "Add a noise mask to the latent so sampling will only happen within the mask. "
                                 "Might improve results or completely break things depending on the model.")})}}

    def encode(self, positive, negative, pixels, vae, mask, noise_mask: bool = True):
        from nodes.runtime.inpaint import crop_with_mask, grey_out

        check_mask_batch(mask, pixels)
        cropped, mask = crop_with_mask(pixels, mask, vae.downscale)
        values = {"concat_latent_image": vae.encode(grey_out(cropped, mask)), "concat_mask": mask}
        latent = {"samples": vae.encode(pixels)}
        if noise_mask:
            latent["noise_mask"] = mask
        return with_options(positive, values), with_options(negative, values), latent


NODE_CLASS_MAPPINGS = {"InpaintModelConditioning": InpaintModelConditioning}
NODE_DISPLAY_NAME_MAPPINGS = {"InpaintModelConditioning": "InpaintModelConditioning"}
