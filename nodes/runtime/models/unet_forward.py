"""The UNet's forward (unet_model.UNetModel): its blocks walked one by one with ComfyUI's patch points and control
residuals; with no patches this is the plain forward (UNetModel.forward calls it so).

ComfyUI's plugins and model-patching nodes (FreeU, Deep Shrink, SAG, PAG, HyperTile, ToMe, hypernetworks, GLIGEN,
ControlNet) reach into the UNet at named places and number its blocks the original (LDM) way: input block 0 is the
first convolution, then each level's resnet (with its transformer) pairs and its downsampler; ("middle", 0); output
blocks count each level's resnet (with its transformer) pairs, the level's upsampler belonging to its last one. This
walk calls the UNet's submodules in that order (each through its module call, so the interrupt pre-hooks see them);
an unpatched walk gives diffusers' UNet2DConditionModel result. The transformer blocks are in transformer_forward.py.
"""
from __future__ import annotations

from typing import Any

import torch

from graph_engine import InvalidNodeInput

Control = dict[str, list[torch.Tensor | None]]


def patched_unet_forward(unet: Any, x: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor, *,
                         transformer_options: dict[str, Any], added_cond: dict[str, torch.Tensor] | None = None,
                         class_labels: torch.Tensor | None = None, control: Control | None = None) -> torch.Tensor:
    """The UNet's output for `x` as ComfyUI's UNetModel forward computes it with the patches of
    `transformer_options` ("patches", "patches_replace") and `control` ({"input", "middle", "output"} lists, each
    consumed from its end); `transformer_options` is this call's own dict (the walk writes "block" and counters)."""
    options = transformer_options
    options["original_shape"] = list(x.shape)
    options["transformer_index"] = 0
    patches = options.get("patches", {})
    control = {name: list(values) for name, values in control.items()} if control else None

    emb = _embedding(unet, x, timestep, added_cond, class_labels, patches, options)

    skips: list[torch.Tensor] = []
    h = x
    for block_id, run_block in enumerate(_input_blocks(unet)):
        options["block"] = ("input", block_id)
        h = run_block(h, emb, context, options)
        h = _add_control(h, control, "input")
        for patch in patches.get("input_block_patch", ()):
            h = patch(h, options)
        skips.append(h)
        for patch in patches.get("input_block_patch_after_skip", ()):
            h = patch(h, options)

    options["block"] = ("middle", 0)
    if unet.mid_block is not None:
        h = _middle_block(unet.mid_block, h, emb, context, options)
    h = _add_control(h, control, "middle")
    for patch in patches.get("middle_block_after_patch", ()):
        h = patch({"h": h, "x": x, "emb": emb, "context": context, "timesteps": timestep,
                   "transformer_options": options})["h"]

    for block_id, run_block in enumerate(_output_blocks(unet)):
        options["block"] = ("output", block_id)
        skip = _add_control(skips.pop(), control, "output")
        for patch in patches.get("output_block_patch", ()):
            h, skip = patch(h, skip, options)
        h = torch.cat([h, skip], dim=1) if skip is not None else h
        h = run_block(h, emb, context, options, output_size=skips[-1].shape[2:] if skips else None)

    return unet.conv_out(unet.conv_act(unet.conv_norm_out(h)))


def _embedding(unet: Any, x: torch.Tensor, timestep: torch.Tensor, added_cond: dict | None,
               class_labels: torch.Tensor | None, patches: dict, options: dict) -> torch.Tensor:
    """The timestep embedding with its emb patches (before class and added embeddings, as ComfyUI applies them)."""
    emb = unet.time_embed(x, timestep)
    for patch in patches.get("emb_patch", ()):
        emb = patch(emb, unet.config.block_out_channels[0], options)
    return unet.add_conditioning(emb, class_labels, added_cond)


def _input_blocks(unet: Any) -> list:
    """ComfyUI's input blocks as calls (h, emb, context, options) -> h."""
    blocks = [lambda h, emb, context, options: unet.conv_in(h)]
    for level in unet.down_blocks:
        attentions = getattr(level, "attentions", None) or [None] * len(level.resnets)
        for resnet, transformer in zip(level.resnets, attentions):
            blocks.append(_resnet_step(resnet, transformer))
        for downsampler in level.downsamplers or ():
            blocks.append(lambda h, emb, context, options, down=downsampler: down(h))
    return blocks


def _output_blocks(unet: Any) -> list:
    """ComfyUI's output blocks as calls (h, emb, context, options, output_size) -> h; a level's upsampler runs in
    its last block, to the size of the skip that the next block joins (odd sizes come out right)."""
    blocks = []
    for level in unet.up_blocks:
        attentions = getattr(level, "attentions", None) or [None] * len(level.resnets)
        pairs = list(zip(level.resnets, attentions))
        for index, (resnet, transformer) in enumerate(pairs):
            step = _resnet_step(resnet, transformer)
            upsamplers = level.upsamplers if index == len(pairs) - 1 and level.upsamplers else ()
            blocks.append(_then_upsample(step, upsamplers))
    return blocks


def _resnet_step(resnet: Any, transformer: Any):
    def run(h: torch.Tensor, emb: torch.Tensor, context: torch.Tensor, options: dict) -> torch.Tensor:
        h = resnet(h, emb)
        return transformer(h, context, options) if transformer is not None else h
    return run


def _then_upsample(step, upsamplers):
    def run(h: torch.Tensor, emb: torch.Tensor, context: torch.Tensor, options: dict,
            output_size: torch.Size | None = None) -> torch.Tensor:
        h = step(h, emb, context, options)
        for upsampler in upsamplers:
            h = upsampler(h, output_size=tuple(output_size) if output_size is not None else None)
        return h
    return run


def _middle_block(block: Any, h: torch.Tensor, emb: torch.Tensor, context: torch.Tensor, options: dict) -> torch.Tensor:
    h = block.resnets[0](h, emb)
    attentions = getattr(block, "attentions", None) or [None] * (len(block.resnets) - 1)
    for transformer, resnet in zip(attentions, block.resnets[1:]):
        if transformer is not None:
            h = transformer(h, context, options)
        h = resnet(h, emb)
    return h


def _add_control(h: torch.Tensor, control: Control | None, name: str) -> torch.Tensor:
    """ComfyUI's apply_control: the last residual of the named list added, when there is one and it fits."""
    if not control or not control.get(name):
        return h
    residual = control[name].pop()
    if residual is None:
        return h
    if residual.shape[1:] != h.shape[1:] or residual.shape[0] not in (1, h.shape[0]):
        raise InvalidNodeInput(f"a control residual of shape {tuple(residual.shape)} does not fit the UNet's "
                         f"{name} block output {tuple(h.shape)}: the control model was made for another model")
    return h + residual.to(h.dtype)
