"""MODEL: a UNet with what sampling needs to know about it (schedule, prediction type, latent format)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from graph_engine import InvalidNodeInput

from ..sampling import Denoiser, DiscreteSchedule, sd_schedule
from .latent_formats import LatentFormat, latent_format
from .model_sampling import SamplingPatchSurface
from .patching import ModelPatchSurface, new_model_options
from .placement import ModelPlacement
from .unet_forward import patched_unet_forward
from .weight_patches import WeightPatchSurface

# UNets that read an image beside the 4-channel latent, by their input channels: ComfyUI's rule.
# 9: mask (1) and masked image (4); 8: the image (4); 7: the SD x4 upscaler's low-res RGB image (3)
IMAGE_INPUTS = {9: "inpaint", 8: "instruct_pix2pix", 7: "x4_upscale"}
IMAGE_INPUT_CHANNELS = {"inpaint": 5, "instruct_pix2pix": 4, "x4_upscale": 3}


@dataclass(eq=False)
class DiffusionModel(ModelPatchSurface, SamplingPatchSurface, WeightPatchSurface, ModelPlacement):
    """What flows on a MODEL wire. Light to copy: views (such as a LoRA'd model or a patched clone) share the UNet
    module; `model_options` holds ComfyUI's sampler patches (patching.py)."""

    unet: Any  # unet_model.UNetModel
    architecture: str  # "SD1.x", "SD2.x", "SDXL"
    prediction_type: str  # "epsilon" or "v_prediction"
    source: str  # the checkpoint's name, for messages
    schedule: DiscreteSchedule = field(default_factory=sd_schedule)
    latent_format: LatentFormat | None = None
    loras: tuple = ()  # weight patches ((LoraFile, strength), add_patches entries) applied just before it runs
    model_options: dict = field(default_factory=new_model_options)

    def __post_init__(self) -> None:
        if self.latent_format is None:
            self.latent_format = latent_format(self.architecture)

    @property
    def uses_size_conditioning(self) -> bool:
        """SDXL's UNet also takes the pooled text embedding and the image size and crop ("text_time")."""
        return getattr(self.unet.config, "addition_embed_type", None) == "text_time"

    @property
    def image_input(self) -> str | None:
        """"inpaint", "instruct_pix2pix" or "x4_upscale" for a UNet that also reads an image
        (guidance/image_inputs.py), else None."""
        return IMAGE_INPUTS.get(self.unet.config.in_channels)

    @property
    def latent_channels(self) -> int:
        """Channels of the latents this model samples (its UNet input less any image it reads beside them)."""
        return self.unet.config.in_channels - IMAGE_INPUT_CHANNELS.get(self.image_input, 0)

    @property
    def device(self) -> torch.device:
        return self.unet.conv_in.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.conv_in.weight.dtype

    def predict(self, x_in: torch.Tensor, timestep: torch.Tensor, *, context: torch.Tensor,
                pooled: torch.Tensor | None = None, time_ids: torch.Tensor | None = None,
                image: torch.Tensor | None = None, transformer_options: dict | None = None,
                control: dict | None = None, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """The UNet's raw output (eps or v) in float32, for inputs in any dtype or device; `image` (for an inpainting
        or InstructPix2Pix UNet) is joined to the latent on the channel axis, unscaled, as ComfyUI does. With UNet
        patches in `transformer_options` or a `control`, its walk (unet_forward.py) takes them; without, the module
        is called (so a compiled UNet standing in for it runs)."""
        device, dtype = self.device, self.dtype
        added = None
        if self.uses_size_conditioning:
            if pooled is None or time_ids is None:
                raise InvalidNodeInput(f"{self.source} is an SDXL model: its conditioning needs a pooled text "
                                       "embedding (encode the prompt with this checkpoint's CLIP)")
            added = {"text_embeds": pooled.to(device, dtype), "time_ids": time_ids.to(device, dtype)}
        if image is not None:
            x_in = torch.cat([x_in, image.to(x_in.device, x_in.dtype)], dim=1)
        if class_labels is not None:  # unCLIP's image embedding (clip_vision/unclip.py), the x4's noise level (ids)
            class_labels = class_labels.to(device, dtype if class_labels.is_floating_point() else None)
        options = transformer_options if transformer_options is not None else self.model_options["transformer_options"]
        with torch.no_grad():
            if control or options.get("patches") or options.get("patches_replace"):
                control = {name: [None if c is None else c.to(device, dtype) for c in values]
                           for name, values in control.items()} if control else None
                out = patched_unet_forward(self.unet, x_in.to(device, dtype), timestep.to(device),
                                           context.to(device, dtype), added_cond=added, control=control,
                                           class_labels=class_labels, transformer_options=dict(options))
            else:
                out = self.unet(x_in.to(device, dtype), timestep.to(device), context.to(device, dtype),
                                added_cond=added, class_labels=class_labels)
        return out.float()

    def with_lora(self, lora: Any, strength: float) -> "DiffusionModel":
        """A clone with one more LoRA; the UNet module is shared."""
        return dataclasses.replace(self.clone(), loras=(*self.loras, (lora, strength)))

    def prepare(self) -> None:
        """Put the UNet on the compute device carrying exactly this view's LoRAs, with its interrupt checks."""
        from ..devices import model_manager
        from ..lora.views import ensure_patched
        from .interrupts import make_unet_interruptible

        make_unet_interruptible(self.unet)
        model_manager().use(self.unet)
        ensure_patched(self.loras, unet=self.unet)

    def denoiser(self) -> Denoiser:
        """D(x, sigma) -> x0 over this model, in k-diffusion units."""
        return Denoiser(self.predict, self.schedule, self.prediction_type)
