"""The control objects a CONTROL_NET wire carries and conditioning entries hold under "control".

They follow ComfyUI's ControlBase interface, which the sampler and plugins call: `copy()`, `set_cond_hint`,
`set_previous_controlnet`, `set_extra_arg`, `pre_run(model)`, `get_control(x, sigma, inputs, batched_number,
transformer_options)` and `cleanup()`. `get_control` returns ComfyUI's {"input", "middle", "output"} lists: a
ControlNet's residuals go to "output" (added to the skip tensors, the last one to the first output block) and
"middle"; a T2I-Adapter's features go to "input" (added after the input blocks that end a level). Applied controls
form a chain through `previous_controlnet`; each link adds its residuals to those of the links before it.
"""
from __future__ import annotations

import logging
from typing import Any

import torch

log = logging.getLogger(__name__)

HINT_SCALE = 8  # the hint image is resized to the latent's size times the VAE's compression


def broadcast_hint(hint: torch.Tensor, batch: int, batched_number: int) -> torch.Tensor:
    """The hint images for a batch of `batch` samples made of `batched_number` equal chunks (cond, uncond...):
    each chunk gets the hints in order, repeated (cut) to the chunk's size; one hint serves all."""
    if hint.shape[0] == 1:
        return hint
    per_chunk = batch // batched_number
    hint = hint[:per_chunk]
    if hint.shape[0] < per_chunk:
        repeats = [hint] * (per_chunk // hint.shape[0]) + [hint[:per_chunk % hint.shape[0]]]
        hint = torch.cat(repeats, dim=0)
    return hint if hint.shape[0] == batch else torch.cat([hint] * batched_number, dim=0)


class ControlBase:
    """The hint, strength, active range and chain shared by ControlNets and T2I-Adapters."""

    kind_word = "control model"
    architecture = ""  # the family it was trained for; "" checks none

    def __init__(self) -> None:
        self.cond_hint_original: torch.Tensor | None = None  # [B, C, H, W] in 0..1
        self.cond_hint: torch.Tensor | None = None  # resized for the latent being sampled
        self.strength = 1.0
        self.timestep_percent_range = (0.0, 1.0)
        self.timestep_range: tuple[float, float] | None = None  # (sigma at start, sigma at end) once pre_run
        self.previous_controlnet: ControlBase | None = None
        self.global_average_pooling = False
        self.compression_ratio = HINT_SCALE
        self.upscale_algorithm = "nearest-exact"
        self.extra_args: dict[str, Any] = {}
        self.vae = None
        self.latent_format = None  # set for ControlNets that read a VAE-encoded hint (none of SD1.x/SDXL's)
        self.concat_mask = False  # set for inpainting ControlNets that read the mask beside the hint (none here)
        self.extra_concat_orig: list[torch.Tensor] = []
        self.model = None  # the DiffusionModel being sampled, between pre_run and cleanup

    def set_cond_hint(self, cond_hint: torch.Tensor, strength: float = 1.0,
                      timestep_percent_range: tuple[float, float] = (0.0, 1.0), vae: Any = None,
                      extra_concat: list | None = None) -> "ControlBase":
        self.cond_hint_original = cond_hint
        self.strength = strength
        self.timestep_percent_range = timestep_percent_range
        self.vae = vae if self.latent_format is not None else None  # SD ControlNets read the image itself
        self.extra_concat_orig = list(extra_concat or [])
        return self

    def set_previous_controlnet(self, controlnet: "ControlBase | None") -> "ControlBase":
        self.previous_controlnet = controlnet
        return self

    def set_extra_arg(self, argument: str, value: Any = None) -> None:
        self.extra_args[argument] = value

    def pre_run(self, model: Any, percent_to_sigma: Any = None) -> None:
        """Check the model's family and turn the start/end percents into its sigmas (ComfyUI passes the function)."""
        check_family(self, model)
        self.model = model
        to_sigma = percent_to_sigma or model.schedule.percent_to_sigma
        self.timestep_range = (to_sigma(self.timestep_percent_range[0]), to_sigma(self.timestep_percent_range[1]))
        if self.previous_controlnet is not None:
            self.previous_controlnet.pre_run(model, percent_to_sigma)

    def cleanup(self) -> None:
        if self.previous_controlnet is not None:
            self.previous_controlnet.cleanup()
        self.model = None
        self.cond_hint = None
        self.timestep_range = None

    def copy_to(self, other: "ControlBase") -> None:
        other.cond_hint_original = self.cond_hint_original
        other.strength = self.strength
        other.timestep_percent_range = self.timestep_percent_range
        other.global_average_pooling = self.global_average_pooling
        other.compression_ratio = self.compression_ratio
        other.upscale_algorithm = self.upscale_algorithm
        other.extra_args = dict(self.extra_args)
        other.vae = self.vae
        other.latent_format = self.latent_format
        other.concat_mask = self.concat_mask
        other.extra_concat_orig = list(self.extra_concat_orig)

    def inactive_at(self, sigma: torch.Tensor) -> bool:
        """Outside [start, end] of sampling: sigma above the start's or below the end's."""
        if self.timestep_range is None:
            return False
        current = float(sigma.reshape(-1)[0])
        return current > self.timestep_range[0] or current < self.timestep_range[1]

    def get_control(self, x: torch.Tensor, sigma: torch.Tensor, inputs: dict, batched_number: int,
                    transformer_options: dict) -> dict | None:
        """The chain's residuals for the batch `x` (model units) at `sigma`: the previous links' plus this one's
        while it is active."""
        previous = None
        if self.previous_controlnet is not None:
            previous = self.previous_controlnet.get_control(x, sigma, inputs, batched_number, transformer_options)
        if self.inactive_at(sigma):
            return previous
        control, output_dtype = self.residuals(x, sigma, inputs, batched_number)
        return self.control_merge(control, previous, output_dtype)

    def residuals(self, x: torch.Tensor, sigma: torch.Tensor, inputs: dict,
                  batched_number: int) -> tuple[dict, torch.dtype | None]:
        """This link's own residuals (before strength) and the dtype to give them; each kind of control has its own."""
        raise NotImplementedError

    def resized_hint(self, width: int, height: int) -> torch.Tensor:
        """The original hint at `width` x `height` (centre-cropped to that aspect first), as ComfyUI resizes it."""
        from nodes.latent.resize import resize

        return resize(self.cond_hint_original, width, height, self.upscale_algorithm, "center")

    def control_merge(self, control: dict, previous: dict | None, output_dtype: torch.dtype | None) -> dict:
        """This link's residuals times its strength, added to the previous links' residuals position by position."""
        merged: dict[str, list] = {"input": [], "middle": [], "output": []}
        for key, residuals in control.items():
            for residual in residuals:
                if residual is not None:
                    if self.global_average_pooling:
                        residual = residual.mean(dim=(2, 3), keepdim=True).expand_as(residual)
                    residual = residual * self.strength
                    if output_dtype is not None:
                        residual = residual.to(output_dtype)
                merged[key].append(residual)
        for key, residuals in (previous or {}).items():
            mine = merged.setdefault(key, [])
            for index, residual in enumerate(residuals):
                if index >= len(mine):
                    mine.append(residual)
                elif residual is not None:
                    mine[index] = residual if mine[index] is None else residual + mine[index]
        return merged


class ControlNet(ControlBase):
    """A ControlNet (diffusers ControlNetModel): a copy of the UNet's down path reading the hint, whose zero
    convolutions give one residual per skip tensor and one for the middle block."""

    kind_word = "ControlNet"

    def __init__(self, module: torch.nn.Module, architecture: str, source: str,
                 global_average_pooling: bool = False) -> None:
        super().__init__()
        self.control_model = module
        self.architecture = architecture
        self.source = source
        self.global_average_pooling = global_average_pooling

    @property
    def hint_channels(self) -> int:
        return self.control_model.config.conditioning_channels

    def copy(self) -> "ControlNet":
        other = ControlNet(self.control_model, self.architecture, self.source, self.global_average_pooling)
        self.copy_to(other)
        return other

    def residuals(self, x: torch.Tensor, sigma: torch.Tensor, inputs: dict,
                  batched_number: int) -> tuple[dict, torch.dtype | None]:
        from ..devices import model_manager

        model_manager().use(self.control_model)
        device, dtype = self.control_model.device, self.control_model.dtype
        height, width = x.shape[2] * self.compression_ratio, x.shape[3] * self.compression_ratio
        if self.cond_hint is None or tuple(self.cond_hint.shape[2:]) != (height, width):
            self.cond_hint = self.resized_hint(width, height).to(device, dtype)
        if self.cond_hint.shape[0] != x.shape[0]:
            self.cond_hint = broadcast_hint(self.cond_hint, x.shape[0], batched_number)
        if self.model is None:
            raise RuntimeError(f"{self.source}: pre_run(model) must be called before get_control (the ControlNet "
                               f"needs the sampled model's schedule)")
        sigma = sigma.reshape(-1).to(x.device).expand(x.shape[0]) if sigma.numel() == 1 else sigma.reshape(-1)
        timestep = self.model.schedule.timestep(sigma.float())
        x_in = x / (sigma.float() ** 2 + 1.0).sqrt().reshape(-1, 1, 1, 1).to(x.device)
        added = None
        if getattr(self.control_model.config, "addition_embed_type", None) == "text_time":
            added = {"text_embeds": inputs["pooled"].to(device, dtype),
                     "time_ids": inputs["time_ids"].to(device, dtype)}
        with torch.no_grad():
            down, middle = self.control_model(
                x_in.to(device, dtype), timestep.to(device), encoder_hidden_states=inputs["context"].to(device, dtype),
                controlnet_cond=self.cond_hint, added_cond_kwargs=added, return_dict=False)
        return {"output": list(down), "middle": [middle]}, None


class T2IAdapter(ControlBase):
    """A T2I-Adapter (diffusers T2IAdapter): features of the hint alone, computed once per hint and added after the
    input blocks that end each level (SDXL's last one after the middle block)."""

    kind_word = "T2I-Adapter"

    def __init__(self, module: torch.nn.Module, config: Any, source: str) -> None:
        super().__init__()
        self.t2i_model = module
        self.config = config
        self.source = source
        self.features: dict | None = None

    @property
    def architecture(self) -> str:
        return "SDXL" if self.config.xl else "SD1.x"

    @property
    def hint_channels(self) -> int | None:
        """None for sketch adapters, which average any image to one channel."""
        return None if self.config.in_channels == 1 else self.config.in_channels

    def copy(self) -> "T2IAdapter":
        other = T2IAdapter(self.t2i_model, self.config, self.source)
        self.copy_to(other)
        return other

    def cleanup(self) -> None:
        self.features = None
        super().cleanup()

    def residuals(self, x: torch.Tensor, sigma: torch.Tensor, inputs: dict,
                  batched_number: int) -> tuple[dict, torch.dtype | None]:
        unit = self.config.downscale_factor
        height = -(-x.shape[2] * self.compression_ratio // unit) * unit
        width = -(-x.shape[3] * self.compression_ratio // unit) * unit
        if self.cond_hint is None or tuple(self.cond_hint.shape[2:]) != (height, width):
            self.features = None
            self.cond_hint = self.resized_hint(width, height).float()
            if self.config.in_channels == 1 and self.cond_hint.shape[1] > 1:
                self.cond_hint = self.cond_hint.mean(dim=1, keepdim=True)
        if self.cond_hint.shape[0] != x.shape[0]:
            self.cond_hint = broadcast_hint(self.cond_hint, x.shape[0], batched_number)
            self.features = None
        if self.features is None:
            self.features = self._features()
        return {key: list(found) for key, found in self.features.items()}, x.dtype

    def _features(self) -> dict:
        from ..devices import model_manager

        model_manager().use(self.t2i_model)
        parameter = next(self.t2i_model.parameters())
        with torch.no_grad():
            found = self.t2i_model(self.cond_hint.to(parameter.device, parameter.dtype))
        return place_adapter_features(list(found), self.config.xl)


def place_adapter_features(features: list[torch.Tensor], xl: bool) -> dict:
    """ComfyUI's placement of four adapter features in the "input" list (popped from its end, one per input block)
    and, for SDXL, "middle": each feature follows the input block that ends its level."""
    first, second, third, fourth = features
    if xl:  # SDXL: 9 input blocks; features at 1/2, 1/2, 1/4 and 1/4 of the latent's size
        return {"input": [None, third, None, None, second, None, first, None, None, None], "middle": [fourth]}
    return {"input": [fourth, None, None, third, None, None, second, None, None, first, None, None]}


def check_family(control: Any, model: Any) -> None:
    """Refuse a control model trained for another family than the model being sampled."""
    from graph_engine import InvalidNodeInput

    family = str(getattr(model, "architecture", ""))
    wanted = str(control.architecture)
    same_width = {family, wanted} <= {"SD1.x", "SD2.x"} and isinstance(control, T2IAdapter)
    if family and wanted and family != wanted and not same_width:
        raise InvalidNodeInput(f"{control.source} is a {wanted} {control.kind_word} but the model being sampled "
                               f"({getattr(model, 'source', 'the model')}) is {family}: use a {family} "
                               f"{control.kind_word} or a {wanted} checkpoint.")

