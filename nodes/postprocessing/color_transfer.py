"""ComfyUI's ColorTransfer (comfy_extras.nodes_post_processing): give target images the colours of reference images.

Methods: "reinhard_lab" matches each Lab channel's mean and spread; "mkl_lab" matches the Lab mean and the full
3x3 covariance with the Monge-Kantorovich linear map; "histogram" maps each RGB channel through the reference's
cumulative histogram. `source_stats` picks whose statistics the map starts from: each frame's own ("per_frame",
frame i matched to reference i, or to the one reference), all frames pooled ("uniform"), or one chosen frame's
("target_frame", source_stats.target_index), the last two applying one map to every frame.
`source_stats` is a dynamic combo: "target_frame" brings the input `source_stats.target_index`.
"""
from __future__ import annotations

from typing import Any, Callable

from graph_engine import InvalidNodeInput
from graph_engine.specs import DYNAMIC_COMBO

from .lab_color import lab_to_rgb, rgb_to_lab

PYTHON_MODULE = "comfy_extras.nodes_post_processing"
METHODS = ("reinhard_lab", "mkl_lab", "histogram")
SOURCE_STATS = ("per_frame", "uniform", "target_frame")
EPSILON = 1e-6
BINS = 256


def _lab_pixels(image: Any) -> Any:
    """One IMAGE frame [H, W, 3] -> Lab values [3, H*W]."""
    return rgb_to_lab(image.permute(2, 0, 1).float()).reshape(3, -1)


def _stats(frames: list[Any], spread_only: bool) -> tuple[Any, Any]:
    """Mean [3, 1] and, over frames [3, N] pooled with equal weight, the per-channel standard deviation [3, 1]
    (floored at EPSILON) or the covariance [3, 3]."""
    mean = sum(frame.mean(dim=1, keepdim=True) for frame in frames) / len(frames)
    if spread_only:
        variance = sum(((frame - mean) ** 2).mean(dim=1, keepdim=True) for frame in frames) / len(frames)
        return mean, variance.sqrt().clamp_min(EPSILON)
    covariance = sum((frame - mean) @ (frame - mean).T / frame.shape[1] for frame in frames) / len(frames)
    return mean, covariance


def monge_kantorovich(source_cov: Any, target_cov: Any) -> Any:
    """The symmetric 3x3 map T with T source_cov T = target_cov (Pitie and Kokaram's linear Monge-Kantorovich
    solution), through eigendecompositions; tiny source variances are floored at EPSILON."""
    import torch

    values, vectors = torch.linalg.eigh(source_cov)
    root = values.clamp_min(0).sqrt().clamp_min(EPSILON)
    half = vectors * root  # source_cov = half @ half.T
    middle_values, middle_vectors = torch.linalg.eigh(half.T @ target_cov @ half)
    middle_root = (middle_vectors * middle_values.clamp_min(0).sqrt()) @ middle_vectors.T
    inverse_half = vectors / root
    return inverse_half @ middle_root @ inverse_half.T


def _lab_map(source: tuple[Any, Any], reference: tuple[Any, Any], reinhard: bool) -> Callable[[Any], Any]:
    """The affine map in Lab taking `source` (mean, spread) statistics to `reference`'s."""
    (source_mean, source_spread), (reference_mean, reference_spread) = source, reference
    if reinhard:
        return lambda pixels: (pixels - source_mean) * (reference_spread / source_spread) + reference_mean
    matrix = monge_kantorovich(source_spread, reference_spread)
    return lambda pixels: matrix @ (pixels - source_mean) + reference_mean


def _cumulative_histogram(frames: list[Any]) -> Any:
    """[C, N] values in 0..1 of each frame -> the pooled cumulative histogram per channel [C, BINS], ending at 1."""
    import torch

    counts = torch.zeros(frames[0].shape[0], BINS, dtype=torch.float32)
    for frame in frames:
        bins = (frame * (BINS - 1)).long().clamp(0, BINS - 1)
        counts.scatter_add_(1, bins, torch.ones_like(frame))
    cumulative = counts.cumsum(1)
    return cumulative / cumulative[:, -1:]


def _histogram_lut(source: list[Any], reference: list[Any]) -> Any:
    """Per channel, each of BINS source levels -> the first reference level whose cumulative share reaches it."""
    import torch

    matched = torch.searchsorted(_cumulative_histogram(reference), _cumulative_histogram(source))
    return matched.clamp_max(BINS - 1).float() / (BINS - 1)


def _flat(image: Any) -> Any:
    """One IMAGE frame [H, W, C] -> [C, H*W] float32."""
    return image.permute(2, 0, 1).reshape(image.shape[-1], -1).float()


def transfer_histogram(target: Any, reference: Any, stats: str, index: int, strength: float) -> Any:
    """ColorTransfer's "histogram" method on IMAGE batches; returns [B, H, W, C]."""
    import torch

    batch, height, width, channels = target.shape
    shared = None
    if stats != "per_frame":
        sources = [target[index]] if stats == "target_frame" else list(target)
        shared = _histogram_lut([_flat(frame) for frame in sources], [_flat(frame) for frame in reference])
    out = torch.empty((batch, height, width, channels), dtype=torch.float32)
    for i in range(batch):
        pixels = _flat(target[i])
        lut = shared if shared is not None else _histogram_lut([pixels], [_flat(reference[min(i, len(reference) - 1)])])
        matched = lut.gather(1, (pixels * (BINS - 1)).long().clamp(0, BINS - 1))
        blended = matched if strength == 1.0 else torch.lerp(pixels, matched, strength)
        out[i] = blended.reshape(channels, height, width).permute(1, 2, 0).clamp(0, 1)
    return out


def transfer_lab(target: Any, reference: Any, reinhard: bool, stats: str, index: int, strength: float) -> Any:
    """ColorTransfer's Lab methods on RGB IMAGE batches; returns [B, H, W, 3]."""
    import torch

    batch, height, width, _ = target.shape
    references = [_lab_pixels(frame) for frame in reference]
    pooled_reference = _stats(references, reinhard)
    shared = None
    if stats != "per_frame":
        sources = [_lab_pixels(target[index])] if stats == "target_frame" else [_lab_pixels(f) for f in target]
        shared = _lab_map(_stats(sources, reinhard), pooled_reference, reinhard)
    out = torch.empty((batch, height, width, 3), dtype=torch.float32)
    for i in range(batch):
        pixels = _lab_pixels(target[i])
        if shared is not None:
            mapping = shared
        else:
            own_reference = pooled_reference if len(references) == 1 else _stats(
                [references[min(i, len(references) - 1)]], reinhard)
            mapping = _lab_map(_stats([pixels], reinhard), own_reference, reinhard)
        corrected = mapping(pixels)
        if strength != 1.0:
            corrected = torch.lerp(pixels, corrected, strength)
        out[i] = lab_to_rgb(corrected.reshape(3, height, width)).permute(1, 2, 0)
    return out


class ColorTransfer:
    CATEGORY = "image/filters"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    FUNCTION = "execute"
    DESCRIPTION = "Match the colors of one image to another using various algorithms."

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image_target": ("IMAGE", {"tooltip": "Image(s) to apply the color transform to."}),
                "image_ref": ("IMAGE", {"tooltip": "Reference image(s) to match colors to."}),
                "method": ("COMBO", {"options": list(METHODS)}),
                "source_stats": (DYNAMIC_COMBO, {"options": [
                    {"key": "per_frame", "inputs": {"required": {}}},
                    {"key": "uniform", "inputs": {"required": {}}},
                    {"key": "target_frame", "inputs": {"required": {"target_index": ("INT", {
                        "default": 0, "min": 0, "max": 10000,
                        "tooltip": "Frame index used as the source baseline for computing the transform to "
                                   "image_ref"})}}}], "tooltip": (
                    "per_frame: each frame matched to image_ref individually. uniform: pool stats across all source "
                    "frames as baseline, match to image_ref. target_frame: use one chosen frame as the baseline for "
                    "the transform to image_ref, applied uniformly to all frames (preserves relative differences)")}),
                "strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01}),
            },
        }

    def execute(self, image_target, image_ref, method: str, source_stats: dict[str, Any], strength: float = 1.0):
        index = source_stats.get("target_index", 0)
        source_stats = source_stats["source_stats"]
        if strength == 0 or image_ref is None:
            return (image_target,)
        if method not in METHODS or source_stats not in SOURCE_STATS:
            raise InvalidNodeInput(f"method must be one of {', '.join(METHODS)} and source_stats one of "
                                   f"{', '.join(SOURCE_STATS)}")
        channels = image_target.shape[-1]
        if image_ref.shape[-1] != channels or (method != "histogram" and channels not in (3, 4)):
            raise InvalidNodeInput(f"image_target has {channels} channels and image_ref {image_ref.shape[-1]}: "
                                   "transfer colour between images of the same kind (RGB for the Lab methods)")
        index = min(index, image_target.shape[0] - 1)
        if method == "histogram":
            return (transfer_histogram(image_target, image_ref, source_stats, index, strength).to(image_target),)
        out = transfer_lab(image_target[..., :3], image_ref[..., :3], method == "reinhard_lab", source_stats, index,
                           strength).to(image_target)
        if channels == 4:  # the target keeps its own alpha
            import torch

            out = torch.cat([out, image_target[..., 3:]], dim=-1)
        return (out,)


NODE_CLASS_MAPPINGS = {"ColorTransfer": ColorTransfer}
NODE_DISPLAY_NAME_MAPPINGS = {"ColorTransfer": "Transfer Color"}
