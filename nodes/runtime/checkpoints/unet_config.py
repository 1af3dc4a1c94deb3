"""Infer a diffusers UNet2DConditionModel config from the key names and shapes of an original-layout (LDM) UNet.

What the shapes give: input and output channels, channels per level, res blocks per level, which levels attend,
transformer depth per level, the context width and whether the transformer projections are linear. What they cannot
give (head count, group-norm groups) follows the architecture's published value, passed in by the caller.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Shapes = Mapping[str, Sequence[int]]

UNET_PREFIX = "model.diffusion_model."
NORM_GROUPS = 32  # every SD UNet and VAE uses 32 groups; a group-norm weight's shape cannot show it
SDXL_TIME_IDS = 6  # SDXL's added conditioning: original size, crop offset and target size, two numbers each


class LayoutError(ValueError):
    """The weights are not laid out like a UNet (or VAE, or text encoder) this loader can build."""


@dataclass
class Level:
    """One resolution of the UNet's down path: its channels and the transformer depth after each res block."""

    channels: int = 0
    depths: list[int] = field(default_factory=list)


def infer_unet_config(shapes: Shapes, *, num_heads: int | None = None, head_channels: int | None = None,
                      pooled_width: int | None = None, prefix: str = UNET_PREFIX, with_up_path: bool = True) -> dict:
    """The diffusers config of the UNet under `prefix`.

    Give `num_heads` (SD1.x: 8 per attention layer) or `head_channels` (SD2.x, SDXL: 64 per head). `pooled_width`
    is the pooled text embedding's width, needed to read SDXL's added size conditioning from `label_emb`.
    `with_up_path=False` reads a ControlNet's copy of the down path and middle block (no output blocks, no
    `out_channels` in the config).
    """
    unet = {key[len(prefix):]: tuple(shape) for key, shape in shapes.items() if key.startswith(prefix)}
    for needed in ("input_blocks.0.0.weight", "time_embed.0.weight", "out.2.weight")[:3 if with_up_path else 2]:
        if needed not in unet:
            raise LayoutError(f"no '{prefix}{needed}'")
    model_channels, in_channels = unet["input_blocks.0.0.weight"][:2]
    levels = _down_levels(unet)
    layers_per_block = _layers_per_block(levels)
    if with_up_path:
        _check_up_path(unet, levels, layers_per_block)
    attends = [level.depths[0] > 0 for level in levels]
    mid_depth = _transformer_depth(unet, "middle_block.1.")
    if mid_depth == 0:
        raise LayoutError("the middle block has no transformer")
    channels = [level.channels for level in levels]
    config = {
        "in_channels": in_channels,
        "block_out_channels": channels,
        "layers_per_block": layers_per_block,
        "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attends],
        "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attends)],
        "transformer_layers_per_block": _transformer_layers(levels, mid_depth),
        "attention_head_dim": _heads(channels, attends, num_heads, head_channels),
        "cross_attention_dim": _context_width(unet),
        "use_linear_projection": _linear_projection(unet),
        "norm_num_groups": NORM_GROUPS,
    }
    cross_only = _cross_only_levels(unet, levels)
    if any(cross_only):
        config["only_cross_attention"] = cross_only
    if with_up_path:
        config["out_channels"] = unet["out.2.weight"][0]
    time_width = unet["time_embed.0.weight"][0]
    if time_width != 4 * model_channels:
        config["time_embedding_dim"] = time_width
    config.update(_added_conditioning(unet, pooled_width))
    return config


def _blocks(unet: Mapping[str, object], kind: str) -> dict[int, set[str]]:
    """Block index -> the keys below it, for `input_blocks` or `output_blocks`."""
    found: dict[int, set[str]] = {}
    pattern = re.compile(rf"{kind}\.(\d+)\.(.*)")
    for key in unet:
        match = pattern.match(key)
        if match:
            found.setdefault(int(match.group(1)), set()).add(match.group(2))
    return found


def _transformer_depth(unet: Mapping[str, object], block: str) -> int:
    """How many transformer blocks follow `block` (0 when it has no attention)."""
    pattern = re.compile(rf"{re.escape(block)}transformer_blocks\.(\d+)\.")
    indices = {int(m.group(1)) for key in unet if (m := pattern.match(key))}
    return max(indices) + 1 if indices else 0


def _down_levels(unet: Mapping[str, tuple[int, ...]]) -> list[Level]:
    """Walk input_blocks 1..n: a res block (with optional transformer) joins the level, a downsampler closes it."""
    blocks = _blocks(unet, "input_blocks")
    levels = [Level()]
    for index in sorted(i for i in blocks if i > 0):
        if "0.op.weight" in blocks[index]:
            levels.append(Level())
            continue
        out_key = f"input_blocks.{index}.0.out_layers.3.weight"
        if out_key not in unet:
            raise LayoutError(f"input block {index} is neither a res block nor a downsampler")
        level = levels[-1]
        if level.channels and level.channels != unet[out_key][0]:
            raise LayoutError(f"input block {index} changes channels inside a level")
        level.channels = unet[out_key][0]
        level.depths.append(_transformer_depth(unet, f"input_blocks.{index}.1."))
    if not levels[-1].depths:
        raise LayoutError("the UNet has no input res blocks")
    return levels


def _layers_per_block(levels: list[Level]) -> int:
    counts = {len(level.depths) for level in levels}
    if len(counts) != 1:
        raise LayoutError(f"levels have different numbers of res blocks ({sorted(counts)})")
    for number, level in enumerate(levels):
        if len(set(level.depths)) != 1:
            raise LayoutError(f"level {number} mixes transformer depths {level.depths}")
    return counts.pop()


def _check_up_path(unet: Mapping[str, tuple[int, ...]], levels: list[Level], layers: int) -> None:
    """The up path mirrors the down path with one extra res block per level; diffusers builds only that shape."""
    blocks = _blocks(unet, "output_blocks")
    if sorted(blocks) != list(range(len(levels) * (layers + 1))):
        raise LayoutError(f"{len(blocks)} output blocks where {len(levels) * (layers + 1)} were expected")
    for index in blocks:
        level = levels[len(levels) - 1 - index // (layers + 1)]
        if _transformer_depth(unet, f"output_blocks.{index}.1.") != level.depths[0]:
            raise LayoutError(f"output block {index} has a transformer depth unlike its down level")


def _transformer_layers(levels: list[Level], mid_depth: int) -> int | list[int]:
    """One depth per level; diffusers' middle block takes the last level's, so a last level without attention
    carries the middle block's depth (its own value is unused)."""
    depths = [level.depths[0] or 1 for level in levels]
    if not levels[-1].depths[0]:
        depths[-1] = mid_depth
    if depths[-1] != mid_depth:
        raise LayoutError(f"the middle block's transformer depth {mid_depth} differs from the last level's")
    return depths[0] if len(set(depths)) == 1 else depths


def _heads(channels: list[int], attends: list[bool], num_heads: int | None,
           head_channels: int | None) -> int | list[int]:
    """diffusers' `attention_head_dim` (despite the name, heads per attention layer, per level)."""
    if num_heads is not None:
        return num_heads
    if head_channels is None:
        raise ValueError("give num_heads or head_channels")
    heads = []
    for number, (width, attention) in enumerate(zip(channels, attends)):
        # the middle block (after the last level) always attends with the last level's width
        if (attention or number == len(channels) - 1) and width % head_channels:
            raise LayoutError(f"{width} channels do not split into heads of {head_channels}")
        heads.append(max(1, width // head_channels))
    return heads


def _context_width(unet: Mapping[str, tuple[int, ...]]) -> int:
    widths = {shape[1] for key, shape in unet.items() if key.endswith("attn2.to_k.weight")}
    if len(widths) != 1:
        raise LayoutError("no cross-attention to text" if not widths else f"several context widths {sorted(widths)}")
    return widths.pop()


def _linear_projection(unet: Mapping[str, tuple[int, ...]]) -> bool:
    """SD1.x projects into its transformers with 1x1 convolutions, SD2.x and SDXL with linear layers."""
    dims = {len(shape) for key, shape in unet.items() if key.endswith("proj_in.weight")}
    if len(dims) != 1:
        raise LayoutError("transformer input projections of mixed kinds")
    return dims.pop() == 2


def _cross_only_levels(unet: Mapping[str, tuple[int, ...]], levels: list[Level]) -> list[bool]:
    """Per level, whether its transformers' first attention reads the text instead of the image (the x4 upscaler's
    `disable_self_attentions`): its keys are then as wide as the context. Where the context is as wide as the level,
    the shapes are alike and the level is taken to attend to itself (as the x4 upscaler's last level does)."""
    flags = []
    block = 1
    for level in levels:
        key = f"input_blocks.{block}.1.transformer_blocks.0.attn1.to_k.weight"
        flags.append(key in unet and unet[key][1] != level.channels)
        block += len(level.depths) + 1
    return flags


def _added_conditioning(unet: Mapping[str, tuple[int, ...]], pooled_width: int | None) -> dict:
    """SDXL adds the pooled text embedding and six size numbers (each as a sinusoid) to the time embedding; a UNet
    that is not SDXL's (pooled_width None) with such an input is unCLIP's, whose class input is an image embedding."""
    if "label_emb.weight" in unet:  # a table of class embeddings (the x4 upscaler's noise level)
        return {"num_class_embeds": unet["label_emb.weight"][0]}
    if "label_emb.0.0.weight" not in unet:
        return {}
    adm_width = unet["label_emb.0.0.weight"][1]
    if pooled_width is None:
        return {"class_embed_type": "projection", "projection_class_embeddings_input_dim": adm_width}
    if (adm_width - pooled_width) <= 0 or (adm_width - pooled_width) % SDXL_TIME_IDS:
        raise LayoutError(f"a class-conditioning input of width {adm_width} that is not SDXL's size conditioning")
    return {
        "addition_embed_type": "text_time",
        "addition_time_embed_dim": (adm_width - pooled_width) // SDXL_TIME_IDS,
        "projection_class_embeddings_input_dim": adm_width,
    }
