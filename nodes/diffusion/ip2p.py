"""InstructPixToPixConditioning: the input image an InstructPix2Pix model (an 8-channel UNet) edits."""
from __future__ import annotations

from .conditioning import with_options

PYTHON_MODULE = "comfy_extras.nodes_ip2p"


class InstructPixToPixConditioning:
    CATEGORY = "model/conditioning/instructpix2pix"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING", "LATENT")
    RETURN_NAMES = ("positive", "negative", "latent")
    FUNCTION = "encode"
    DESCRIPTION = ("Both prompts carry the encoded image, which the model reads beside the noise; the latent is "
                   "an empty one of the image's size.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"positive": ("CONDITIONING", {}), "negative": ("CONDITIONING", {}), "vae": ("VAE", {}),
                             "pixels": ("IMAGE", {})}}

    def encode(self, positive, negative, pixels, vae):
        import torch

        image = vae.encode(pixels)  # centre-cropped to a multiple of 8 first
        values = {"concat_latent_image": image}
        return with_options(positive, values), with_options(negative, values), {"samples": torch.zeros_like(image)}


NODE_CLASS_MAPPINGS = {"InstructPixToPixConditioning": InstructPixToPixConditioning}
