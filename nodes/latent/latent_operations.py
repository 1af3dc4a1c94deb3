"""ComfyUI's LATENT_OPERATION nodes (comfy_extras.nodes_latent): an operation is a callable `operation(latent=x)`
that returns a changed latent; LatentApplyOperation applies one to a LATENT.

LatentApplyOperationCFG (an operation applied to the model's guidance each step) needs the model-patch surface
(`set_model_sampler_pre_cfg_function`), which is not here yet.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graph_engine import InvalidNodeInput

if TYPE_CHECKING:
    import torch

PYTHON_MODULE = "comfy_extras.nodes_latent"
CATEGORY = "model/latent/advanced/operations"


def split_length(latent: "torch.Tensor", epsilon: float) -> tuple["torch.Tensor", "torch.Tensor"]:
    """(length [B, 1, ...], direction) of each cell's channel vector; `epsilon` keeps zero vectors finite."""
    import torch

    length = (torch.linalg.vector_norm(latent, dim=1) + epsilon)[:, None]
    return length, latent / length


def gaussian_kernel(size: int, sigma: float, device: Any = None) -> "torch.Tensor":
    """A size x size Gaussian over [-1, 1] on both axes (so `sigma` is relative to the kernel's half width),
    summing to 1."""
    import torch

    steps = torch.linspace(-1, 1, size, device=device)
    squared_distance = steps[:, None] ** 2 + steps[None, :] ** 2
    weights = torch.exp(-squared_distance / (2.0 * sigma * sigma))
    return weights / weights.sum()


@dataclass(frozen=True)
class TonemapReinhard:
    """Compress the cells' vector lengths with Reinhard's curve x / (1 + x), scaled so that lengths around
    `multiplier` x (mean + 5 standard deviations) are where it bends; directions are kept."""

    multiplier: float

    def __call__(self, latent: "torch.Tensor", **_: Any) -> "torch.Tensor":
        import torch

        length, direction = split_length(latent, 1e-10)
        dims = list(range(1, length.ndim))
        mean = torch.mean(length, dim=dims, keepdim=True)
        spread = torch.std(length, dim=dims, keepdim=True)
        top = (spread * 5 + mean) * self.multiplier
        scaled = length * (1.0 / top)
        return direction * (scaled / (scaled + 1.0) * top)


@dataclass(frozen=True)
class Sharpen:
    """Unsharp-mask the cells' directions (their lengths are kept): each direction minus `alpha` x 10 times its
    Gaussian-blurred surroundings, edges mirrored."""

    radius: int
    sigma: float
    alpha: float

    def __call__(self, latent: "torch.Tensor", **_: Any) -> "torch.Tensor":
        import torch.nn.functional as F

        if latent.ndim != 4:
            raise InvalidNodeInput(f"LatentOperationSharpen works on image latents [batch, channels, height, width]; "
                                   f"this one has shape {tuple(latent.shape)}")
        if min(latent.shape[-2:]) <= self.radius:
            raise InvalidNodeInput(
                f"LatentOperationSharpen: sharpen_radius {self.radius} needs a latent of more than {self.radius} "
                f"cells a side; this one is {latent.shape[-1]} x {latent.shape[-2]}: use a smaller radius")
        length, direction = split_length(latent, 1e-6)
        channels = latent.shape[1]
        kernel = gaussian_kernel(self.radius * 2 + 1, self.sigma, latent.device) * (self.alpha * -10)
        kernel[self.radius, self.radius] += 1.0 - kernel.sum()  # the weights sum to 1: flat areas stay as they are
        padded = F.pad(direction, (self.radius,) * 4, mode="reflect")
        weights = kernel.to(latent.dtype).expand(channels, 1, *kernel.shape)
        return length * F.conv2d(padded, weights, groups=channels)


class LatentApplyOperation:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "execute"
    EXPERIMENTAL = True
    DESCRIPTION = "The latents changed by a latent operation (sharpen, tonemap...)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT", {}), "operation": ("LATENT_OPERATION", {})}}

    def execute(self, samples: dict, operation):
        out = dict(samples)
        out["samples"] = operation(latent=samples["samples"])
        return (out,)


class LatentOperationTonemapReinhard:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT_OPERATION",)
    FUNCTION = "execute"
    EXPERIMENTAL = True
    DESCRIPTION = "An operation that tames the strongest parts of a latent with Reinhard tonemapping."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"multiplier": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 100.0, "step": 0.01})}}

    def execute(self, multiplier: float):
        return (TonemapReinhard(multiplier),)


class LatentOperationSharpen:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT_OPERATION",)
    FUNCTION = "execute"
    EXPERIMENTAL = True
    DESCRIPTION = "An operation that sharpens a latent (an unsharp mask on its cells' directions)."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "sharpen_radius": ("INT", {"default": 9, "min": 1, "max": 31, "step": 1, "advanced": True}),
            "sigma": ("FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.1, "advanced": True}),
            "alpha": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 5.0, "step": 0.01, "advanced": True})}}

    def execute(self, sharpen_radius: int, sigma: float, alpha: float):
        return (Sharpen(sharpen_radius, sigma, alpha),)


NODE_CLASS_MAPPINGS = {"LatentApplyOperation": LatentApplyOperation,
                       "LatentOperationTonemapReinhard": LatentOperationTonemapReinhard,
                       "LatentOperationSharpen": LatentOperationSharpen}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
