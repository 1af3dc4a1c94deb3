"""The CLIP text encoder of Stable Diffusion (OpenAI CLIP-L, OpenCLIP ViT-H and bigG), defined here rather than taken
from transformers: its layout no longer changes with the transformers version (5.6 dropped the `text_model.`
wrapper), and with our UNet and VAE it lets a run skip importing diffusers and transformers, seconds of a first
run's wait (issue 18).

The parameters carry transformers' CLIPTextModel(WithProjection) names (`text_model.embeddings.token_embedding`,
`text_model.encoder.layers.N.self_attn.q_proj`, ..., `text_projection`), so checkpoint conversion, LoRA keys and
weight patches address them as before; the outputs are the ones the text encoding reads: every hidden state (the
embeddings', then each layer's) and the last one after the final layer norm.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# transformers' CLIPTextConfig defaults, for the keys a config leaves out
CONFIG_DEFAULTS = {"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 12,
                   "num_attention_heads": 8, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
                   "layer_norm_eps": 1e-5, "projection_dim": 512}
ACTIVATIONS = {
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),  # OpenAI CLIP's
    "gelu": F.gelu,  # OpenCLIP's
}


@dataclass(frozen=True)
class ClipTextOutput:
    last_hidden_state: torch.Tensor  # the last layer's output after the final layer norm
    hidden_states: tuple[torch.Tensor, ...]  # the embeddings' output, then each layer's (no final norm)


class ClipAttention(nn.Module):
    """Causal multi-head self-attention."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(width, width) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = x.shape

        def split(projected: torch.Tensor) -> torch.Tensor:
            return projected.view(batch, tokens, self.heads, width // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x)),
                                             is_causal=True)
        return self.out_proj(out.transpose(1, 2).reshape(batch, tokens, width))


class ClipMlp(nn.Module):
    def __init__(self, width: int, intermediate: int, activation: str) -> None:
        super().__init__()
        self.activation = ACTIVATIONS[activation]
        self.fc1, self.fc2 = nn.Linear(width, intermediate), nn.Linear(intermediate, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation(self.fc1(x)))


class ClipEncoderLayer(nn.Module):
    """Pre-norm transformer layer: attention, then the MLP, each added to its input."""

    def __init__(self, width: int, heads: int, intermediate: int, activation: str, eps: float) -> None:
        super().__init__()
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(width, eps=eps), nn.LayerNorm(width, eps=eps)
        self.self_attn = ClipAttention(width, heads)
        self.mlp = ClipMlp(width, intermediate, activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class ClipEncoder(nn.Module):
    def __init__(self, layers: int, **layer_arguments) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ClipEncoderLayer(**layer_arguments) for _ in range(layers))


class ClipEmbeddings(nn.Module):
    def __init__(self, vocabulary: int, positions: int, width: int) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocabulary, width)
        self.position_embedding = nn.Embedding(positions, width)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[-1], device=input_ids.device)
        return self.token_embedding(input_ids) + self.position_embedding(positions)


class ClipTextTransformer(nn.Module):
    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        width, eps = config["hidden_size"], config["layer_norm_eps"]
        self.embeddings = ClipEmbeddings(config["vocab_size"], config["max_position_embeddings"], width)
        self.encoder = ClipEncoder(config["num_hidden_layers"], width=width, heads=config["num_attention_heads"],
                                   intermediate=config["intermediate_size"], activation=config["hidden_act"], eps=eps)
        self.final_layer_norm = nn.LayerNorm(width, eps=eps)

    def forward(self, input_ids: torch.Tensor) -> ClipTextOutput:
        hidden = self.embeddings(input_ids)
        states = [hidden]
        for layer in self.encoder.layers:
            hidden = layer(hidden)
            states.append(hidden)
        return ClipTextOutput(self.final_layer_norm(hidden), tuple(states))


class ClipTextModel(nn.Module):
    """`text_model`, and `text_projection` (bias-free, to `projection_dim`) where the family pools through it (SDXL's
    bigG). `config` holds CLIPTextConfig's keys (a diffusers folder's config.json, or the loader's inferred ones);
    others are ignored. Called as transformers' model is: `model(input_ids=ids, output_hidden_states=True)`."""

    def __init__(self, config: Mapping[str, Any], with_projection: bool) -> None:
        super().__init__()
        config = {key: config.get(key, default) for key, default in CONFIG_DEFAULTS.items()}
        if config["hidden_act"] not in ACTIVATIONS:
            raise ValueError(f"a CLIP text encoder with the activation '{config['hidden_act']}' (this loader knows "
                             f"{', '.join(ACTIVATIONS)})")
        self.text_model = ClipTextTransformer(config)
        if with_projection:
            self.text_projection = nn.Linear(config["hidden_size"], config["projection_dim"], bias=False)

    def forward(self, input_ids: torch.Tensor, output_hidden_states: bool = True) -> ClipTextOutput:
        """`output_hidden_states` is accepted for transformers' callers: the states are always given."""
        return self.text_model(input_ids)
