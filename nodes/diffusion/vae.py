"""VAEDecode, VAEEncode, VAEEncodeForInpaint and their tiled forms."""
from __future__ import annotations

from graph_engine.estimate import NodeEstimate, ValueSize
from nodes.latent.latent_nodes import LATENT_CHANNELS, LATENT_SCALE


def _vae_scratch(batch: int, height: int, width: int) -> int:
    """The VAE's own memory at this size when it computes in host memory (0 on a GPU)."""
    from nodes.runtime.models.estimates import computes_in_host_memory, vae_bytes

    return vae_bytes(batch, height, width) if computes_in_host_memory() else 0


def _decoded_image(latent: ValueSize | None) -> ValueSize | None:
    """The IMAGE a latent [B, C, h, w] decodes to, when its shape is known."""
    if latent is None or len(latent.shape) != 4:
        return None
    batch, _channels, height, width = latent.shape
    return ValueSize.array((batch, height * LATENT_SCALE, width * LATENT_SCALE, 3))


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
        image = _decoded_image(sizes.get("samples"))
        if image is None:
            return None
        from nodes.runtime.models.vae import FALLBACK_DECODE_TILE

        batch, height, width, _channels = image.shape
        # an image too big to decode whole is decoded in tiles (Vae.decode): the least it needs is the smaller of the two
        scratch = min(_vae_scratch(batch, height, width),
                      _tiled_scratch({"tile_size": FALLBACK_DECODE_TILE * LATENT_SCALE}, height, width,
                                     (3, height, width)))
        return NodeEstimate((image,), image.nbytes + scratch, f"decoding {batch} image(s) of {width}x{height} pixels")

    def decode(self, vae, samples):
        return (vae.decode(samples["samples"]),)


def _tiled_scratch(inputs: dict, height: int, width: int, blended: tuple[int, int, int]) -> int:
    """Memory of a tiled pass over images of width x height pixels in tiles of the inputs' tile_size: the VAE's memory
    for the biggest tile, and one result's blending buffers (a pass's weighted sum and weights, and the passes' sum)
    for a `blended` result of (channels, height, width)."""
    from nodes.runtime.models.vae_tiling import three_tile_shapes

    tile = inputs.get("tile_size") if isinstance(inputs.get("tile_size"), int) else 512

    biggest = max(_vae_scratch(1, min(height, tall), min(width, wide)) for tall, wide in three_tile_shapes(tile))
    channels, out_height, out_width = blended
    return biggest + ValueSize.array((2, channels + 1, out_height, out_width)).nbytes


def _tiling_inputs(tile_step: int, verb: str) -> dict:
    """tile_size, overlap and the video VAEs' temporal inputs (which Stable Diffusion's image VAEs ignore)."""
    return {"tile_size": ("INT", {"default": 512, "min": 64, "max": 4096, "step": tile_step, "advanced": True}),
            "overlap": ("INT", {"default": 64, "min": 0, "max": 4096, "step": 32, "advanced": True}),
            "temporal_size": ("INT", {"default": 64, "min": 8, "max": 4096, "step": 4, "advanced": True,
                                      "tooltip": f"Only used for video VAEs: Amount of frames to {verb} at a time."}),
            "temporal_overlap": ("INT", {"default": 8, "min": 4, "max": 4096, "step": 4, "advanced": True,
                                         "tooltip": "Only used for video VAEs: Amount of frames to overlap."})}


class VAEDecodeTiled:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "decode"
    DESCRIPTION = ("Decodes latents in overlapping tiles, blended, for images too big to decode whole; the overlap is "
                   "at most a quarter of the tile.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT",), "vae": ("VAE",), **_tiling_inputs(32, "decode")}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        image = _decoded_image(sizes.get("samples"))
        if image is None:
            return None
        batch, height, width, _channels = image.shape
        return NodeEstimate((image,), image.nbytes + _tiled_scratch(inputs, height, width, (3, height, width)),
                            f"decoding {batch} image(s) of {width}x{height} pixels in tiles")

    def decode(self, vae, samples, tile_size: int = 512, overlap: int = 64, temporal_size: int = 64,
               temporal_overlap: int = 8):
        overlap = min(overlap, tile_size // 4)  # as ComfyUI: seams need room inside the tile
        f = vae.downscale
        return (vae.decode_tiled(samples["samples"], tile_x=tile_size // f, overlap=overlap // f),)


class VAEEncodeTiled:
    CATEGORY = "model/latent"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "encode"
    DESCRIPTION = ("Encodes an image in overlapping tiles, blended, for images too big to encode whole; the overlap "
                   "must be less than half the tile.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"pixels": ("IMAGE",), "vae": ("VAE",), **_tiling_inputs(64, "encode")}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        pixels = sizes.get("pixels")
        estimate = _encode_estimate(pixels)
        if estimate is None:
            return None
        batch, height, width, _channels = pixels.shape
        latent = estimate.outputs[0]
        blended = (LATENT_CHANNELS, height // LATENT_SCALE, width // LATENT_SCALE)
        scratch = _tiled_scratch(inputs, height, width, blended) + pixels.nbytes  # + the pixels in the model's layout
        return NodeEstimate((latent,), latent.nbytes + scratch, f"encoding {batch} image(s) of {width}x{height} "
                            "pixels in tiles")

    def encode(self, vae, pixels, tile_size: int = 512, overlap: int = 64, temporal_size: int = 64,
               temporal_overlap: int = 8):
        from graph_engine import InvalidNodeInput

        if overlap >= tile_size // 2:  # the narrow tiles of the tall and wide passes are tile_size / 2 across
            raise InvalidNodeInput(f"overlap ({overlap}) must be less than half of tile_size ({tile_size}): lower "
                                   "the overlap or raise the tile size")
        return ({"samples": vae.encode_tiled(pixels, tile_x=tile_size, overlap=overlap)},)


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


NODE_CLASS_MAPPINGS = {"VAEDecode": VAEDecode, "VAEEncode": VAEEncode, "VAEEncodeForInpaint": VAEEncodeForInpaint,
                       "VAEDecodeTiled": VAEDecodeTiled, "VAEEncodeTiled": VAEEncodeTiled}
NODE_DISPLAY_NAME_MAPPINGS = {"VAEDecode": "VAE Decode", "VAEEncode": "VAE Encode",
                              "VAEEncodeForInpaint": "VAE Encode (for Inpainting)",
                              "VAEDecodeTiled": "VAE Decode (Tiled)", "VAEEncodeTiled": "VAE Encode (Tiled)"}
