"""Rename original-layout (LDM) weights to diffusers/transformers names, reading each tensor once, straight to the
target device and dtype.

The UNet and VAE find each of their parameters by its original name: the checkpoint writer's renaming (ldm_layout)
read backwards, over the module built empty for this file, so the two directions cannot disagree and loading needs no
import of diffusers (seconds of a first run). The weights come through a lazy mapping, so only the component's
tensors are touched. The text encoders use the small mappings below (diffusers' OpenCLIP converter drops SD2.x's last
layer, which ComfyUI keeps for CLIPSetLastLayer).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

import torch

from .architecture import CheckpointArchitecture, TextEncoderSpec
from .checkpoint_file import CheckpointFile
from .ldm_layout import UNET, unet_ldm_names, vae_ldm_name
from .text_encoder_config import transformers_clip_root
from .unet_config import LayoutError

# Weights some files carry that no module has: OpenCLIP's logit scale and causal mask, old CLIP position ids.
UNUSED_TEXT_KEYS = ("logit_scale", "attn_mask", "text_model.embeddings.position_ids")


class LazyWeights(Mapping):
    """The checkpoint's tensors by key, each read when asked for (or read ahead, see `read_ahead`) and moved to
    `device` as `dtype` (floating point only). A tensor that is converted or moved is read into a buffer freed right
    after, so the peak holds the converted weights plus a few tensors, never a second copy of the file."""

    def __init__(self, checkpoint: CheckpointFile, device: torch.device, dtype: torch.dtype) -> None:
        self.checkpoint = checkpoint
        self.device = device
        self.dtype = dtype
        self._ahead = None

    def read_ahead(self, keys: Iterable[str]) -> None:
        """Start reading `keys` (in the order they will be asked for) on background threads; asking for one then
        waits for its read instead of reading it. The checkpoint's closing stops what is left."""
        # "cuda" means this thread's current device; a reading thread's would be device 0
        self.device = torch.empty(0, device=self.device).device
        self._ahead = self.checkpoint.read_ahead(list(keys), self._prepare)

    def __getitem__(self, key: str) -> torch.Tensor:
        ready = self._ahead.take(key) if self._ahead is not None else None
        return ready if ready is not None else self._prepare(key, self.checkpoint.tensor(key))

    def _prepare(self, key: str, stored: torch.Tensor) -> torch.Tensor:
        dtype = self.dtype if stored.dtype.is_floating_point else stored.dtype
        if stored.dtype == dtype and stored.device == self.device:
            return stored  # what `to` would return, without its argument parsing and dispatch
        return stored.to(device=self.device, dtype=dtype)

    def __iter__(self) -> Iterator[str]:
        return iter(self.checkpoint.shapes)

    def __len__(self) -> int:
        return len(self.checkpoint.shapes)

    def __contains__(self, key: object) -> bool:
        return key in self.checkpoint.shapes


# Where a file keeps its VAE: the original layout's prefix, or that of files merged by some tools; the last one present
# wins (as diffusers' converter chooses, so files load as they did through it).
VAE_PREFIXES = ("first_stage_model.", "vae.")


def vae_prefix(keys: Iterable[str]) -> str:
    """The prefix of the VAE's weights among `keys`."""
    keys = list(keys)
    return next((prefix for prefix in reversed(VAE_PREFIXES) if any(key.startswith(prefix) for key in keys)),
                VAE_PREFIXES[0])


def keys_converted(detected: CheckpointArchitecture, keys: Iterable[str]) -> list[str]:
    """The keys the conversions below ask for, in the order the loader asks (UNet, VAE, text encoders; each in the
    file's order), so EMA copies and other parts are left out."""
    keys = list(keys)
    prefixes = (UNET, vae_prefix(keys), *(spec.prefix for spec in detected.text_encoders))
    return [key for prefix in prefixes for key in keys if key.startswith(prefix)]


def unet_state_dict(weights: Mapping[str, torch.Tensor], unet: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights of `unet` (built empty for this file) from `model.diffusion_model.*`; one the file lacks is left
    out, for the filling to report."""
    found = {name: UNET + original for name, original in unet_ldm_names(unet).items()}
    return {name: weights[key] for name, key in found.items() if key in weights}


def vae_state_dict(weights: Mapping[str, torch.Tensor], vae: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights of `vae` (built empty for this file) from `first_stage_model.*`; the mid-block attention's 1x1
    convolutions become the linear layers' matrices."""
    prefix = vae_prefix(weights)
    levels = len(vae.config.block_out_channels)
    converted = {}
    for name, expected in vae.state_dict(keep_vars=True).items():
        key = prefix + vae_ldm_name(name, levels)
        if key in weights:
            tensor = weights[key]
            converted[name] = tensor[:, :, 0, 0] if tensor.ndim == 4 and expected.ndim == 2 else tensor
    return converted


def text_encoder_state_dict(weights: Mapping[str, torch.Tensor], spec: TextEncoderSpec) -> dict[str, torch.Tensor]:
    """CLIP text weights, named as in our ClipTextModel (transformers' names: `text_model.*`,
    `text_projection.weight`)."""
    converted = (_clip_state_dict(weights, spec.prefix) if spec.layout == "transformers"
                 else _open_clip_state_dict(weights, spec.prefix, spec.config["hidden_size"]))
    if not spec.with_projection:
        converted.pop("text_projection.weight", None)
    for unused in UNUSED_TEXT_KEYS:
        converted.pop(unused, None)
    return converted


def _clip_state_dict(weights: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    root = transformers_clip_root(weights, prefix)
    converted = {}
    for key in [key for key in weights if key.startswith(root)]:
        name = key[len(root):]
        converted[name if name == "text_projection.weight" else "text_model." + name] = weights[key]
    if prefix + "text_projection.weight" in weights:  # beside text_model.*, as transformers saves it
        converted["text_projection.weight"] = weights[prefix + "text_projection.weight"]
    return converted


# OpenCLIP name -> transformers name, applied to the part after `transformer.resblocks.N.`
OPEN_CLIP_LAYER_NAMES = {"ln_1.": "layer_norm1.", "ln_2.": "layer_norm2.", "mlp.c_fc.": "mlp.fc1.",
                         "mlp.c_proj.": "mlp.fc2.", "attn.out_proj.": "self_attn.out_proj."}
OPEN_CLIP_TOP_NAMES = {"token_embedding.weight": "text_model.embeddings.token_embedding.weight",
                       "positional_embedding": "text_model.embeddings.position_embedding.weight",
                       "ln_final.weight": "text_model.final_layer_norm.weight",
                       "ln_final.bias": "text_model.final_layer_norm.bias"}


def _open_clip_state_dict(weights: Mapping[str, torch.Tensor], prefix: str, width: int) -> dict[str, torch.Tensor]:
    converted: dict[str, torch.Tensor] = {}
    blocks = prefix + "transformer.resblocks."
    for key in [key for key in weights if key.startswith(prefix)]:
        name = key[len(prefix):]
        if name in OPEN_CLIP_TOP_NAMES:
            converted[OPEN_CLIP_TOP_NAMES[name]] = weights[key]
        elif name == "text_projection":
            # OpenCLIP multiplies x @ P; a Linear layer stores P transposed
            converted["text_projection.weight"] = weights[key].t().contiguous()
        elif key.startswith(blocks):
            index, rest = key[len(blocks):].split(".", 1)
            converted.update(_open_clip_layer(f"text_model.encoder.layers.{index}.", rest, weights[key], width))
        else:
            converted[name] = weights[key]  # unknown: reported by the caller as unexpected
    return converted


def _open_clip_layer(target: str, rest: str, tensor: torch.Tensor, width: int) -> dict[str, torch.Tensor]:
    """One OpenCLIP layer weight; the fused q/k/v projection splits into three views of the same storage."""
    if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
        kind = rest.rsplit("_", 1)[1]
        if tensor.shape[0] != 3 * width:
            raise LayoutError(f"a fused attention weight of shape {tuple(tensor.shape)} for width {width}")
        q, k, v = tensor.split(width, dim=0)
        return {f"{target}self_attn.{p}_proj.{kind}": part for p, part in zip("qkv", (q, k, v))}
    for old, new in OPEN_CLIP_LAYER_NAMES.items():
        if rest.startswith(old):
            return {target + new + rest[len(old):]: tensor}
    return {target + rest: tensor}
