"""VAEDecode, VAEEncode and VAEEncodeForInpaint."""
from __future__ import annotations

from graph_engine.estimate import NodeEstimate, ValueSize
from nodes.latent.latent_nodes import LATENT_CHANNELS, LATENT_SCALE


def _vae_scratch(batch: int, height: int, width: int) -> int:
    """The VAE's own memory at this size when it computes in host memory (0 on a GPU)."""
    from nodes.runtime.models.estimates import computes_in_host_memory, vae_bytes

    return vae_bytes(batch, height, width) if computes_in_host_memory() else 0


def _encode_estimate(pixels: ValueSize | None, extra_bytes: int = 0) -> NodeEstimate | None:
    """A latent from images [B, H, W, C]: the latent, the VAE's memory and `extra_bytes` of preparation."""
    if pixels is None or len(pixels.shape) != 4:
        return None
    batch, height, width, _channels = pixels.shape
    latent = ValueSize.array((batch, LATENT_CHANNELS, height // LATENT_SCALE, width // LATENT_SCALE))
    return NodeEstimate((latent,), latent.nbytes + extra_bytes + _vae_scratch(batch, height, width),
                        f"encoding {batch} image(s) of {width}x{height} pixels")


class VAEDecode:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_TOOLTIPS = ("The decoded image.",)
    FUNCTION = "decode"
    DESCRIPTION = "Decodes latents into images."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT", {"tooltip": "The latent to be decoded."}),
                             "vae": ("VAE", {"tooltip": "The VAE model used for decoding the latent."})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        latent = sizes.get("samples")
        if latent is None or len(latent.shape) != 4:
            return None
        batch, _channels, height, width = latent.shape
        height, width = height * LATENT_SCALE, width * LATENT_SCALE
        image = ValueSize.array((batch, height, width, 3))
        return NodeEstimate((image,), image.nbytes + _vae_scratch(batch, height, width),
                            f"decoding {batch} image(s) of {width}x{height} pixels")

    def decode(self, vae, samples):
        return (vae.decode(samples["samples"]),)


class VAEEncode:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"
    DESCRIPTION = "Encodes an image into a latent (for img2img); the image is centre-cropped to a multiple of 8."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",)}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        return _encode_estimate(sizes.get("pixels"))

    def encode(self, vae, pixels):
        return ({"samples": vae.encode(pixels)},)


class VAEEncodeForInpaint:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"
    DESCRIPTION = ("Encodes an image for inpainting: the masked pixels are greyed out before encoding and the mask, "
                   "grown by a few pixels, becomes the latent's noise mask.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",), "mask": ("MASK",),
                             "grow_mask_by": ("INT", {"default": 6, "min": 0, "max": 64, "step": 1})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        pixels = sizes.get("pixels")
        return _encode_estimate(pixels, pixels.nbytes if pixels is not None else 0)  # the greyed-out copy

    def encode(self, vae, pixels, mask, grow_mask_by: int = 6):
        from nodes.runtime.inpaint import prepare_inpaint

        pixels, noise_mask = prepare_inpaint(pixels, mask, grow_mask_by, vae.downscale)
        return ({"samples": vae.encode(pixels), "noise_mask": noise_mask},)


NODE_CLASS_MAPPINGS = {"VAEDecode": VAEDecode, "VAEEncode": VAEEncode, "VAEEncodeForInpaint": VAEEncodeForInpaint}
NODE_DISPLAY_NAME_MAPPINGS = {"VAEDecode": "VAE Decode", "VAEEncode": "VAE Encode",
                              "VAEEncodeForInpaint": "VAE Encode (for Inpainting)"}
