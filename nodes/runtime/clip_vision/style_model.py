"""STYLE_MODEL: the T2I-Adapter style model, which turns a CLIP vision tower's hidden states into extra text tokens.

The file holds learned style tokens, a small OpenCLIP-style transformer (`transformer_layes.N`: fused-q/k/v attention
and a quick-GELU MLP, each after a layer norm), pre/post layer norms and a projection to the UNet's context width.
Sizes come from shapes; the head count (8) cannot be seen and is the published model's, as ComfyUI builds it.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoints import CheckpointError, classify_file, open_checkpoint_file
from ..checkpoints.meta_modules import empty_module, fill_module
from ..devices import model_manager

log = logging.getLogger(__name__)

STYLE_HEADS = 8


class StyleModelError(CheckpointError):
    """A file given as a style model is something else; the message says what and where it belongs."""


@dataclass(frozen=True)
class StyleConfig:
    width: int  # the CLIP vision hidden width it reads
    context: int  # the text context width its tokens join
    layers: int
    tokens: int  # style tokens it adds per image


class _LayerNorm(torch.nn.LayerNorm):
    """Normalised in float32 whatever the weights' dtype, as the original model does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.float(), self.normalized_shape, self.weight.float(), self.bias.float(),
                            self.eps).to(x.dtype)


class _Block(torch.nn.Module):
    """x + attention(norm(x)), then x + MLP(norm(x)), with the original file's names."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(width, STYLE_HEADS, batch_first=True)
        self.ln_1 = _LayerNorm(width)
        self.mlp = torch.nn.ModuleDict({"c_fc": torch.nn.Linear(width, 4 * width),
                                        "c_proj": torch.nn.Linear(4 * width, width)})
        self.ln_2 = _LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.ln_1(x)
        x = x + self.attn(normed, normed, normed, need_weights=False)[0]
        hidden = self.mlp["c_fc"](self.ln_2(x))
        return x + self.mlp["c_proj"](hidden * torch.sigmoid(1.702 * hidden))


class StyleAdapter(torch.nn.Module):
    """[batch, patches + 1, width] hidden states -> [batch, tokens, context] style tokens."""

    def __init__(self, config: StyleConfig) -> None:
        super().__init__()
        self.style_embedding = torch.nn.Parameter(torch.empty(1, config.tokens, config.width))
        self.ln_pre = _LayerNorm(config.width)
        self.transformer_layes = torch.nn.Sequential(*[_Block(config.width) for _ in range(config.layers)])
        self.ln_post = _LayerNorm(config.width)
        self.proj = torch.nn.Parameter(torch.empty(config.width, config.context))
        self.tokens = config.tokens

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        style = self.style_embedding.to(hidden).expand(hidden.shape[0], -1, -1)  # .to: weights may stream in
        x = self.transformer_layes(self.ln_pre(torch.cat([hidden, style], dim=1)))
        return self.ln_post(x[:, -self.tokens:]) @ self.proj.to(x)


@dataclass(eq=False)
class StyleModel:
    """What flows on a STYLE_MODEL wire."""

    module: StyleAdapter
    config: StyleConfig
    source: str

    def get_cond(self, clip_vision_output) -> torch.Tensor:
        """The style tokens for each encoded image: [images, tokens, context], float32 on the CPU."""
        hidden = clip_vision_output.last_hidden_state
        if hidden.shape[-1] != self.config.width:
            from graph_engine import InvalidNodeInput

            raise InvalidNodeInput(f"clip_vision_output has hidden states of width {hidden.shape[-1]} but the style "
                                   f"model {self.source} reads {self.config.width}: encode the image with the CLIP "
                                   f"vision model it was trained with (ViT-L/14 for the T2I-Adapter style model).")
        manager = model_manager()
        manager.use(self.module)
        with torch.no_grad():
            return self.module(hidden.to(manager.compute_device, self.module.proj.dtype)).float().cpu()


def detect_style_model(shapes: Mapping[str, Sequence[int]]) -> StyleConfig | None:
    """The adapter's sizes, or None when the keys are not a T2I-Adapter style model."""
    if "style_embedding" not in shapes or "proj" not in shapes:
        return None
    layers = {int(m.group(1)) for key in shapes if (m := re.match(r"transformer_layes\.(\d+)\.", key))}
    _, tokens, width = shapes["style_embedding"]
    return StyleConfig(width=width, context=shapes["proj"][1], layers=len(layers), tokens=tokens)


def load_style_model(path: str | Path) -> StyleModel:
    """The style model in `path` (.safetensors, or a pickle of plain tensors)."""
    path = Path(path)
    with open_checkpoint_file(path) as opened:
        config = detect_style_model(opened.shapes)
        if config is None:
            raise _not_a_style_model(path, opened.shapes, opened.metadata)
        manager = model_manager()
        device = manager.load_device(path.stat().st_size)
        dtype = manager.weight_dtype()
        weights = {key: opened.tensor(key).to(device=device, dtype=dtype) for key in opened.shapes}
    module = fill_module(empty_module(lambda: StyleAdapter(config)), weights, component="style model", path=path,
                         device=device)
    manager.track(module, f"{path.name} style model")
    log.info("loaded %s: style model, %d tokens of width %d", path.name, config.tokens, config.context)
    return StyleModel(module=module, config=config, source=path.name)


def _not_a_style_model(path: Path, shapes, metadata) -> StyleModelError:
    if "redux_down.weight" in shapes:
        return StyleModelError(path, f"{path} is a Flux Redux style model: Latentloom runs Stable Diffusion 1.x, "
                                     f"2.x and SDXL models, whose style model is the T2I-Adapter one "
                                     f"(style_embedding, transformer_layes.*).")
    kind = classify_file(shapes, metadata, str(path))
    if kind.kind != "unknown":
        return StyleModelError(path, f"{path} is {kind.description}, not a style model: {kind.advice}")
    return StyleModelError(path, f"{path} is not a style model Latentloom can load: it has no style_embedding and "
                                 f"proj (the T2I-Adapter style model's weights).")
