"""VAEDecode, VAEEncode and VAEEncodeForInpaint."""
from __future__ import annotations


class VAEDecode:
    CATEGORY = "latent"
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = ("The decoded image.",)
    FUNCTION = "decode"
    DESCRIPTION = "Decodes latents into images."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT", {"tooltip": "The latent to be decoded."}),
                             "vae": ("VAE", {"tooltip": "The VAE model used for decoding the latent."})}}

    def decode(self, vae, samples):
        return (vae.decode(samples["samples"]),)


class VAEEncode:
    CATEGORY = "latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"
    DESCRIPTION = "Encodes an image into a latent (for img2img); the image is centre-cropped to a multiple of 8."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",)}}

    def encode(self, vae, pixels):
        return ({"samples": vae.encode(pixels)},)


class VAEEncodeForInpaint:
    CATEGORY = "latent/inpaint"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"
    DESCRIPTION = ("Encodes an image for inpainting: the masked pixels are greyed out before encoding and the mask, "
                   "grown by a few pixels, becomes the latent's noise mask.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",), "mask": ("MASK",),
                             "grow_mask_by": ("INT", {"default": 6, "min": 0, "max": 64, "step": 1})}}

    def encode(self, vae, pixels, mask, grow_mask_by: int = 6):
        from nodes.runtime.inpaint import prepare_inpaint

        pixels, noise_mask = prepare_inpaint(pixels, mask, grow_mask_by, vae.downscale)
        return ({"samples": vae.encode(pixels), "noise_mask": noise_mask},)


NODE_CLASS_MAPPINGS = {"VAEDecode": VAEDecode, "VAEEncode": VAEEncode, "VAEEncodeForInpaint": VAEEncodeForInpaint}
NODE_DISPLAY_NAME_MAPPINGS = {"VAEDecode": "VAE Decode", "VAEEncode": "VAE Encode",
                              "VAEEncodeForInpaint": "VAE Encode (for Inpainting)"}
