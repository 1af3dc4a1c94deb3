"""ComfyUI's batch nodes of comfy_extras.nodes_post_processing: join any number of images, masks or latents into one
batch, each resized (bilinear, centre crop) to the first one's size.

Their inputs grow on the canvas (ComfyUI's autogrow input): `images.image0` to `images.image49`.
"""
from __future__ import annotations

from typing import Any

from graph_engine import InvalidNodeInput
from graph_engine.dynamic_inputs import autogrow_input

from ..latent.batching import reshape_latent_to
from ..latent.resize import resize
from ..masks.batches import mask_batch

PYTHON_MODULE = "comfy_extras.nodes_post_processing"
MOST_SOCKETS = 50  # ComfyUI's limit for these nodes


def _resized_to(samples: Any, height: int, width: int) -> Any:
    """Channel-first `samples` [B, C, H, W] at height x width (bilinear, centre crop), unchanged when already so."""
    if samples.shape[-2:] == (height, width):
        return samples
    return resize(samples, width, height, "bilinear", "center")


def batch_images(images: list[Any]) -> Any:
    """IMAGEs [B, H, W, C] joined: fewer channels get opaque alpha, other sizes are resized to the first image's."""
    import torch

    channels = max(image.shape[-1] for image in images)
    height, width = images[0].shape[1:3]
    joined = []
    for image in images:
        if image.shape[-1] < channels:
            image = torch.cat([image, image.new_ones((*image.shape[:-1], channels - image.shape[-1]))], dim=-1)
        joined.append(_resized_to(image.movedim(-1, 1), height, width).movedim(1, -1))
    return torch.cat(joined, dim=0)


def batch_masks(masks: list[Any]) -> Any:
    """MASKs [B, H, W] (or [H, W]) joined, other sizes resized to the first mask's."""
    import torch

    masks = [mask_batch(mask, f"masks.mask{index}") for index, mask in enumerate(masks)]
    height, width = masks[0].shape[1:3]
    return torch.cat([_resized_to(mask.unsqueeze(1), height, width).squeeze(1) for mask in masks], dim=0)


def batch_latents(latents: list[dict]) -> dict:
    """LATENTs joined: samples resized to the first one's size; batch_index continued from each latent's own (or
    0..n-1); the first latent's other entries (a noise mask) are kept."""
    import torch

    first = latents[0]["samples"]
    joined, batch_index = [], []
    for position, latent in enumerate(latents):
        samples = reshape_latent_to(first.shape, latent["samples"], f"latents.latent{position}", repeat_batch=False)
        joined.append(samples)
        batch_index.extend(latent.get("batch_index", range(samples.shape[0])))
    return {**latents[0], "samples": torch.cat(joined, dim=0), "batch_index": list(batch_index)}


def _batch_node(kind: str, group: str, prefix: str, category: str, join) -> type:
    """A node class joining up to MOST_SOCKETS inputs of `kind` with `join`."""

    class BatchNode:
        CATEGORY = category
        RETURN_TYPES = (kind,)
        FUNCTION = "batch"
        DESCRIPTION = (f"Join the connected {kind.lower()} inputs into one batch, in socket order; each is resized to "
                       "the first one's size.")

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {group: autogrow_input(prefix, (kind, {}), prefix=prefix, minimum=1,
                                                       maximum=MOST_SOCKETS)}}

        def batch(self, **inputs):
            values = [value for value in inputs[group].values() if value is not None]
            if not values:
                raise InvalidNodeInput(f"connect at least {group}.{prefix}0")
            return (join(values),)

    return BatchNode


BatchImagesNode = _batch_node("IMAGE", "images", "image", "image/batch", batch_images)
BatchMasksNode = _batch_node("MASK", "masks", "mask", "image/mask", batch_masks)
BatchLatentsNode = _batch_node("LATENT", "latents", "latent", "model/latent/batch", batch_latents)

NODE_CLASS_MAPPINGS = {"BatchImagesNode": BatchImagesNode, "BatchMasksNode": BatchMasksNode,
                       "BatchLatentsNode": BatchLatentsNode}
NODE_DISPLAY_NAME_MAPPINGS = {"BatchImagesNode": "Batch Images", "BatchMasksNode": "Batch Masks",
                              "BatchLatentsNode": "Batch Latents"}
