"""Write diffusers/transformers modules as one single-file checkpoint in the original (LDM) key layout.

The loader reads SD1.x, SD2.x and SDXL files in the layout their authors published (`model.diffusion_model.*`,
`first_stage_model.*`, the text encoders under their family's prefix). Latentloom also has to *write* such files:
the demo model (random weights, so the pipeline runs on a fresh machine without downloads), benchmarks that need a
large file, and the tests' tiny checkpoints. This module maps diffusers/transformers names (which our UNet, VAE and
CLIP modules carry, as diffusers' and transformers' own do) to the original ones, with the writer that uses it; the
loader's conversion reads the same UNet and VAE maps backwards.

It imports torch (not diffusers or transformers).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from safetensors.torch import save_file

UNET = "model.diffusion_model."
VAE = "first_stage_model."
SD1_TEXT = "cond_stage_model.transformer."
SD2_TEXT = "cond_stage_model.model."
SDXL_TEXT_L = "conditioner.embedders.0.transformer."
SDXL_TEXT_G = "conditioner.embedders.1.model."

# ---------------------------------------------------------------- diffusers -> original layout (UNet)

RESNET_NAMES = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0", "conv2": "out_layers.3",
                "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}
UNET_FIXED = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
              "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
              "class_embedding.linear_1": "label_emb.0.0", "class_embedding.linear_2": "label_emb.0.2",
              "class_embedding": "label_emb",
              "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}


def resnet_name(rest: str) -> str:
    """A res block's parameter name (`conv1.weight`) in the original layout (`in_layers.2.weight`)."""
    first, tail = rest.split(".", 1)
    return f"{RESNET_NAMES[first]}.{tail}"


def unet_to_ldm(unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """LDM names: input_blocks.i = level*(layers+1)+1+r (res block .0, transformer .1), the downsampler closing each
    level as its own block; output_blocks likewise with one more res block per level; middle_block 0/1/2."""
    names = unet_ldm_names(unet)
    return {UNET + names[name]: tensor for name, tensor in unet.state_dict().items()}


def unet_ldm_names(unet: torch.nn.Module) -> dict[str, str]:
    """Each UNet parameter's diffusers name -> its original-layout name (without `model.diffusion_model.`)."""
    layers = unet.config.layers_per_block
    if not isinstance(layers, int):  # per-level counts: the original numbering needs one count
        layers = int(layers[0])
    up_attends = [hasattr(block, "attentions") for block in unet.up_blocks]
    return {name: _unet_ldm_name(name, layers, up_attends) for name in unet.state_dict(keep_vars=True)}


def down_path_ldm_name(name: str, layers: int) -> str:
    """The original name of a weight of the UNet's down path or middle block (what a ControlNet copies)."""
    return _unet_ldm_name(name, layers, [])


def _unet_ldm_name(name: str, layers: int, up_attends: list[bool]) -> str:
    per_level = layers + 1
    module, _, param = name.rpartition(".")
    if module in UNET_FIXED:
        return f"{UNET_FIXED[module]}.{param}"
    if match := re.fullmatch(r"down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", name):
        return f"input_blocks.{1 + int(match[1]) * per_level + int(match[2])}.0.{resnet_name(match[3])}"
    if match := re.fullmatch(r"down_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", name):
        return f"input_blocks.{1 + int(match[1]) * per_level + int(match[2])}.1.{match[3]}"
    if match := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", name):
        return f"input_blocks.{(int(match[1]) + 1) * per_level}.0.op.{match[2]}"
    if match := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", name):
        return f"middle_block.{2 * int(match[1])}.{resnet_name(match[2])}"
    if match := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", name):
        return f"middle_block.1.{match[1]}"
    if match := re.fullmatch(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", name):
        return f"output_blocks.{int(match[1]) * per_level + int(match[2])}.0.{resnet_name(match[3])}"
    if match := re.fullmatch(r"up_blocks\.(\d+)\.attentions\.(\d+)\.(.+)", name):
        return f"output_blocks.{int(match[1]) * per_level + int(match[2])}.1.{match[3]}"
    if match := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", name):
        block = int(match[1])  # the upsampler follows the last res block, after its transformer if it has one
        return f"output_blocks.{block * per_level + layers}.{2 if up_attends[block] else 1}.conv.{match[2]}"
    raise KeyError(f"no LDM name for UNet weight {name}")


# ---------------------------------------------------------------- diffusers -> original layout (VAE)

VAE_ATTENTION_NAMES = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_to_ldm(vae: torch.nn.Module) -> dict[str, torch.Tensor]:
    """LDM names: encoder.down.i.block.j, decoder.up.(n-1-i).block.j (the decoder counts levels from the bottom),
    mid.block_1/attn_1/block_2, norm_out; attention projections are 1x1 convolutions there."""
    levels = len(vae.config.block_out_channels)
    renamed = {}
    for name, tensor in vae.state_dict().items():
        ldm = vae_ldm_name(name, levels)
        if ".attn_1." in ldm and ldm.endswith(".weight") and "norm" not in ldm:
            tensor = tensor[:, :, None, None]
        renamed[VAE + ldm] = tensor
    return renamed


def vae_ldm_name(name: str, levels: int) -> str:
    """A VAE weight's diffusers name -> its original-layout name (without `first_stage_model.`)."""
    name = name.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
    if match := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(.+)", name):
        return f"encoder.down.{match[1]}.block.{match[2]}"
    if match := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.(.+)", name):
        return f"encoder.down.{match[1]}.downsample.{match[2]}"
    if match := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(.+)", name):
        return f"decoder.up.{levels - 1 - int(match[1])}.block.{match[2]}"
    if match := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.+)", name):
        return f"decoder.up.{levels - 1 - int(match[1])}.upsample.{match[2]}"
    if match := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d)\.(.+)", name):
        return f"{match[1]}.mid.block_{int(match[2]) + 1}.{match[3]}"
    if match := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", name):
        return f"{match[1]}.mid.attn_1.{VAE_ATTENTION_NAMES[match[2]]}.{match[3]}"
    return name  # conv_in, conv_out, norm_out, quant_conv, post_quant_conv


# ---------------------------------------------------------------- CLIP text model -> original layouts (text)

def clip_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CLIP text model's weights named without the `text_model.` wrapper (ours, or transformers' of any version)."""
    return {name.removeprefix("text_model."): tensor for name, tensor in model.state_dict().items()}


def clip_to_ldm(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """transformers layout under `prefix` + text_model., with the position ids real SD1.x files also carry."""
    weights = clip_weights(model)
    renamed = {f"{prefix}text_model.{name}": tensor for name, tensor in weights.items()}
    positions = weights["embeddings.position_embedding.weight"].shape[0]
    renamed[f"{prefix}text_model.embeddings.position_ids"] = torch.arange(positions).unsqueeze(0)
    return renamed


OPEN_CLIP_NAMES = {"embeddings.token_embedding.weight": "token_embedding.weight",
                   "embeddings.position_embedding.weight": "positional_embedding",
                   "final_layer_norm.weight": "ln_final.weight", "final_layer_norm.bias": "ln_final.bias"}
OPEN_CLIP_LAYER = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
                   "self_attn.out_proj": "attn.out_proj"}


def clip_to_open_clip(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """OpenCLIP layout: resblocks with one fused q/k/v projection, and text_projection stored as x @ P."""
    weights = clip_weights(model)
    renamed = {}
    for name, tensor in weights.items():
        if name in OPEN_CLIP_NAMES:
            renamed[prefix + OPEN_CLIP_NAMES[name]] = tensor
        elif name == "text_projection.weight":
            renamed[prefix + "text_projection"] = tensor.t().contiguous()
        elif match := re.fullmatch(r"encoder\.layers\.(\d+)\.self_attn\.q_proj\.(weight|bias)", name):
            layer, kind = match.groups()
            fused = [weights[f"encoder.layers.{layer}.self_attn.{p}_proj.{kind}"] for p in "qkv"]
            renamed[f"{prefix}transformer.resblocks.{layer}.attn.in_proj_{kind}"] = torch.cat(fused)
        elif match := re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", name):
            layer, module, kind = match.groups()
            if module.startswith("self_attn.") and module != "self_attn.out_proj":
                continue  # k and v went into the fused projection with q
            renamed[f"{prefix}transformer.resblocks.{layer}.{OPEN_CLIP_LAYER[module]}.{kind}"] = tensor
        else:
            raise KeyError(f"no OpenCLIP name for {name}")
    return renamed


# ---------------------------------------------------------------- whole checkpoints

def text_encoders_to_ldm(text_encoders: Sequence[torch.nn.Module], family: str) -> dict[str, torch.Tensor]:
    """The text encoders of `family` in its layout: SD1.x CLIP-L, SD2.x OpenCLIP, SDXL CLIP-L then OpenCLIP bigG."""
    family = str(family)  # an Architecture member works as well as its name
    expected = {"SD1.x": 1, "SD2.x": 1, "SDXL": 2}
    if family not in expected:
        raise ValueError(f"unknown checkpoint family {family!r}; expected one of {', '.join(expected)}")
    if len(text_encoders) != expected[family]:
        raise ValueError(f"{family} has {expected[family]} text encoder(s), got {len(text_encoders)}")
    if family == "SD1.x":
        return clip_to_ldm(text_encoders[0], SD1_TEXT)
    if family == "SD2.x":
        return clip_to_open_clip(text_encoders[0], SD2_TEXT)
    return {**clip_to_ldm(text_encoders[0], SDXL_TEXT_L), **clip_to_open_clip(text_encoders[1], SDXL_TEXT_G)}


def save_ldm_checkpoint(path: str | Path, unet: torch.nn.Module, vae: torch.nn.Module,
                        text_encoders: Sequence[torch.nn.Module], family: str, dtype: torch.dtype,
                        metadata: Mapping[str, str] | None = None,
                        extra: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Write the modules as one .safetensors checkpoint of `family` ("SD1.x", "SD2.x" or "SDXL").

    Floating tensors are stored as `dtype`, others (position ids) as they are; `extra` adds tensors under their
    full key (SD2.x files carry `text_projection` and `logit_scale` that no module here holds). Returns the
    original-layout state dict before the cast, so callers can compare what a load gives back.
    """
    state = {**unet_to_ldm(unet), **vae_to_ldm(vae), **text_encoders_to_ldm(text_encoders, family), **(extra or {})}
    stored = {key: (tensor.to(dtype) if tensor.is_floating_point() else tensor).contiguous()
              for key, tensor in state.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(stored, str(path), metadata=dict(metadata) if metadata else None)
    return state
