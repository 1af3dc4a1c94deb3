"""ComfyUI's rebatching nodes (comfy_extras.nodes_rebatch): a list of batches in, a list of batches of
`batch_size` out, so that later nodes run once per new batch.

Both take their inputs as whole lists (INPUT_IS_LIST) and return a list (OUTPUT_IS_LIST).
"""
from __future__ import annotations

from typing import Any

from graph_engine import InvalidNodeInput

from .batching import repeat_to_batch_size
from .latent_nodes import LATENT_SCALE

PYTHON_MODULE = "comfy_extras.nodes_rebatch"


def _batch_size_input() -> tuple[str, dict]:
    return ("INT", {"default": 1, "min": 1, "max": 4096})


def _chunks(length: int, size: int) -> list[slice]:
    return [slice(start, start + size) for start in range(0, length, size)]


def _latent_masks(latent: dict) -> Any:
    """The latent's noise masks [B, 1, h, w], one per latent (repeated in turn), or all ones at the pixel size."""
    import torch

    samples = latent["samples"]
    batch, height, width = samples.shape[0], samples.shape[-2], samples.shape[-1]
    mask = latent.get("noise_mask")
    if mask is None:
        return torch.ones((batch, 1, height * LATENT_SCALE, width * LATENT_SCALE))
    return repeat_to_batch_size(mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])), batch)


def _same_size_masks(masks: list, height: int, width: int) -> list:
    """The masks as they are when they share one size, else each resized (bilinear) to the latents' pixel size."""
    import torch.nn.functional as F

    if len({tuple(mask.shape[-2:]) for mask in masks}) <= 1:
        return masks
    size = (height * LATENT_SCALE, width * LATENT_SCALE)
    return [mask if tuple(mask.shape[-2:]) == size else F.interpolate(mask, size=size, mode="bilinear")
            for mask in masks]


def _runs_of_one_size(latents: list[dict]) -> list[list[tuple[dict, list[int]]]]:
    """Consecutive latents of the same height and width, each with its batch indices (numbered on through the
    whole list where a latent has none)."""
    runs: list[list[tuple[dict, list[int]]]] = []
    numbered = 0
    for latent in latents:
        samples = latent["samples"]
        count = samples.shape[0]
        indices = list(latent.get("batch_index", range(numbered, numbered + count)))
        numbered += len(indices)
        if runs and runs[-1][0][0]["samples"].shape[-2:] == samples.shape[-2:]:
            runs[-1].append((latent, indices))
        else:
            runs.append([(latent, indices)])
    return runs


def rebatch_latents(latents: list[dict], batch_size: int) -> list[dict]:
    """The latents joined and cut into batches of `batch_size`; latents of another size start a new batch."""
    import torch

    out = []
    for run in _runs_of_one_size(latents):
        first = run[0][0]["samples"]
        if any(latent["samples"].shape[1:-2] != first.shape[1:-2] for latent, _ in run):
            raise InvalidNodeInput("RebatchLatents: the latents are of different kinds (channels): they cannot "
                                   "share a batch; rebatch the latents of each model apart")
        samples = torch.cat([latent["samples"] for latent, _ in run])
        masks = torch.cat(_same_size_masks([_latent_masks(latent) for latent, _ in run], *first.shape[-2:]))
        indices = [index for _, latent_indices in run for index in latent_indices]
        for part in _chunks(samples.shape[0], batch_size):
            batch = {"samples": samples[part], "noise_mask": masks[part], "batch_index": indices[part]}
            if batch["noise_mask"].mean() == 1.0:
                del batch["noise_mask"]  # nothing masked: sample the whole latent
            out.append(batch)
    return out


def rebatch_images(images: list, batch_size: int) -> list:
    """Every image of every batch, in order, regrouped into batches of `batch_size`."""
    import torch

    frames = [image[index:index + 1] for image in images for index in range(image.shape[0])]
    out = []
    for part in _chunks(len(frames), batch_size):
        chunk = frames[part]
        if len({tuple(frame.shape[1:]) for frame in chunk}) > 1:
            sizes = sorted({f"{frame.shape[2]}x{frame.shape[1]}" for frame in chunk})
            raise InvalidNodeInput(f"RebatchImages: images of different sizes ({', '.join(sizes)}) would share a "
                                   f"batch; scale them to one size first, or rebatch them apart")
        out.append(torch.cat(chunk))
    return out


class RebatchLatents:
    CATEGORY = "model/latent/batch"
    RETURN_TYPES = ("LATENT",)
    OUTPUT_IS_LIST = (True,)
    INPUT_IS_LIST = True
    FUNCTION = "rebatch"
    DESCRIPTION = ("Join a list of latent batches and cut it into batches of batch_size (latents of another size "
                   "start a new batch); noise masks and batch indices go along.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"latents": ("LATENT", {}), "batch_size": _batch_size_input()}}

    def rebatch(self, latents: list[dict], batch_size: list[int]):
        return (rebatch_latents(latents, batch_size[0]),)


class RebatchImages:
    CATEGORY = "image/batch"
    RETURN_TYPES = ("IMAGE",)
    OUTPUT_IS_LIST = (True,)
    INPUT_IS_LIST = True
    FUNCTION = "rebatch"
    DESCRIPTION = "Join a list of image batches and cut it into batches of batch_size images."

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE", {}), "batch_size": _batch_size_input()}}

    def rebatch(self, images: list, batch_size: list[int]):
        return (rebatch_images(images, batch_size[0]),)


NODE_CLASS_MAPPINGS = {"RebatchLatents": RebatchLatents, "RebatchImages": RebatchImages}
NODE_DISPLAY_NAME_MAPPINGS = {"RebatchLatents": "Rebatch Latents", "RebatchImages": "Rebatch Images"}
