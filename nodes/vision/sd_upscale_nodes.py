"""SD_4XUpscale_Conditioning (comfy_extras.nodes_sdupscale): the SD x4 upscaler's conditioning, the low-resolution
image it reads beside the latent (with its noise augmentation) and the empty latent it samples."""
from __future__ import annotations

from graph_engine import InvalidNodeInput

PYTHON_MODULE = "comfy_extras.nodes_sdupscale"


class SD_4XUpscale_Conditioning:
    CATEGORY = "model/conditioning/stable diffusion upscaler"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING", "LATENT")
    RETURN_NAMES = ("positive", "negative", "latent")
    FUNCTION = "encode"
    DESCRIPTION = ("For the Stable Diffusion x4 upscaler: the images, scaled to -1..1 and resized (bilinear, centre "
                   "crop) to the latent's size (the output size / 4), join both conditionings as 'concat_image' "
                   "with 'noise_augmentation'; the latent is zeros of the output size / 4.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",), "positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
                             "scale_ratio": ("FLOAT", {"default": 4.0, "min": 0.0, "max": 10.0, "step": 0.01}),
                             "noise_augmentation": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001,
                                                              "advanced": True})}}

    def encode(self, images, positive, negative, scale_ratio: float, noise_augmentation: float):
        import torch

        from nodes.latent.resize import resize

        width = max(1, round(images.shape[-2] * scale_ratio))
        height = max(1, round(images.shape[-3] * scale_ratio))
        if width < 4 or height < 4:
            raise InvalidNodeInput(f"scale_ratio {scale_ratio} makes a {width}x{height} image, smaller than one "
                                   f"latent pixel (4 px for this upscaler): use a larger scale_ratio.")
        pixels = resize(images.movedim(-1, 1) * 2.0 - 1.0, width // 4, height // 4, "bilinear", "center")

        def with_image(conditioning):
            return [[text, {**options, "concat_image": pixels, "noise_augmentation": noise_augmentation}]
                    for text, options in conditioning]

        latent = torch.zeros([images.shape[0], 4, height // 4, width // 4])
        return with_image(positive), with_image(negative), {"samples": latent}


NODE_CLASS_MAPPINGS = {"SD_4XUpscale_Conditioning": SD_4XUpscale_Conditioning}
