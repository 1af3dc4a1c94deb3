"""ComfyUI's latent arithmetic and batch nodes (comfy_extras.nodes_latent): add, subtract, multiply, interpolate,
batch two latents and choose how a batch is seeded."""
from __future__ import annotations

import operator
from typing import Any, Callable

from .batching import reshape_latent_to

PYTHON_MODULE = "comfy_extras.nodes_latent"
CATEGORY = "model/latent/advanced"
SEED_BEHAVIORS = ("random", "fixed")


def _two_latents() -> dict:
    return {"samples1": ("LATENT", {}), "samples2": ("LATENT", {})}


def combined(samples1: dict, samples2: dict, operation: Callable[[Any, Any], Any]) -> dict:
    """samples1 with its samples `operation`-ed with samples2's, fitted first to samples1's size and batch."""
    first = samples1["samples"]
    out = dict(samples1)
    out["samples"] = operation(first, reshape_latent_to(first.shape, samples2["samples"], "samples2"))
    return out


class LatentAdd:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "execute"
    DESCRIPTION = "samples1 + samples2; samples2 is first fitted to samples1's size (bilinear) and batch."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": _two_latents()}

    def execute(self, samples1: dict, samples2: dict):
        return (combined(samples1, samples2, operator.add),)


class LatentSubtract:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "execute"
    DESCRIPTION = "samples1 - samples2; samples2 is first fitted to samples1's size (bilinear) and batch."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": _two_latents()}

    def execute(self, samples1: dict, samples2: dict):
        return (combined(samples1, samples2, operator.sub),)


class LatentMultiply:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "execute"
    DESCRIPTION = "Every value of the latents times `multiplier`."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT", {}),
                             "multiplier": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0, "step": 0.01})}}

    def execute(self, samples: dict, multiplier: float):
        out = dict(samples)
        out["samples"] = samples["samples"] * multiplier
        return (out,)


def interpolate_vectors(first, second, ratio: float):
    """Blend two latents cell by cell: the channel vectors' directions are blended (ratio of the first) and renormed,
    their lengths blended linearly; a zero vector has no direction and counts as 0."""
    import torch

    def direction(values, length):
        return torch.nan_to_num(values / length)

    first_length = torch.linalg.vector_norm(first, dim=1, keepdim=True)
    second_length = torch.linalg.vector_norm(second, dim=1, keepdim=True)
    mixed = direction(first, first_length) * ratio + direction(second, second_length) * (1.0 - ratio)
    mixed_direction = direction(mixed, torch.linalg.vector_norm(mixed, dim=1, keepdim=True))
    return mixed_direction * (first_length * ratio + second_length * (1.0 - ratio))


class LatentInterpolate:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "execute"
    DESCRIPTION = ("Blend samples1 (ratio 1) into samples2 (ratio 0) by direction and length of each cell's channel "
                   "vector, so the result keeps the latents' energy where a plain mix would dull it.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {**_two_latents(),
                             "ratio": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def execute(self, samples1: dict, samples2: dict, ratio: float):
        first = samples1["samples"]
        second = reshape_latent_to(first.shape, samples2["samples"], "samples2")
        out = dict(samples1)
        out["samples"] = interpolate_vectors(first, second, ratio)
        return (out,)


class LatentBatch:
    CATEGORY = "model/latent/batch"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "execute"
    DEPRECATED = True
    DESCRIPTION = ("One batch of samples1's latents followed by samples2's (resized to samples1's size when they "
                   "differ); each keeps its batch index.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": _two_latents()}

    def execute(self, samples1: dict, samples2: dict):
        import torch

        first = samples1["samples"]
        second = reshape_latent_to(first.shape, samples2["samples"], "samples2", repeat_batch=False)
        out = dict(samples1)
        out["samples"] = torch.cat((first, second), dim=0)
        out["batch_index"] = (list(samples1.get("batch_index", range(first.shape[0])))
                              + list(samples2.get("batch_index", range(second.shape[0]))))
        return (out,)


class LatentBatchSeedBehavior:
    CATEGORY = CATEGORY
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "execute"
    DESCRIPTION = ("fixed: every latent of the batch gets the first one's noise; random: each its own (the batch "
                   "indices are dropped).")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"samples": ("LATENT", {}),
                             "seed_behavior": (list(SEED_BEHAVIORS), {"default": "fixed"})}}

    def execute(self, samples: dict, seed_behavior: str):
        out = dict(samples)
        if seed_behavior == "random":
            out.pop("batch_index", None)
        elif seed_behavior == "fixed":
            first = samples.get("batch_index", [0])[0]
            out["batch_index"] = [first] * samples["samples"].shape[0]
        return (out,)


NODE_CLASS_MAPPINGS = {"LatentAdd": LatentAdd, "LatentSubtract": LatentSubtract, "LatentMultiply": LatentMultiply,
                       "LatentInterpolate": LatentInterpolate, "LatentBatch": LatentBatch,
                       "LatentBatchSeedBehavior": LatentBatchSeedBehavior}
NODE_DISPLAY_NAME_MAPPINGS = {"LatentBatch": "Batch Latents (DEPRECATED)"}
