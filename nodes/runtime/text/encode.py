"""Token chunks -> conditioning with CLIP text models (models/clip_text_model.py), the way ComfyUI computes it.

- The hidden state is the family's layer (TextEncoderSpec.hidden_layer) or the clip-skip layer (CLIPSetLastLayer:
  -1 last, -2 penultimate, ...), through the final layer norm where the family does that.
- A weighted token is pushed away from the empty prompt's state at the same position:
  z = (z - z_empty) * weight + z_empty. Tokens of weight 1 are left exactly as encoded.
- Chunks are concatenated along the sequence; the pooled output is the first chunk's, read at its EOS token from the
  final-normed last layer and projected where the model has a projection (SDXL's bigG).
- SDXL: CLIP-L and bigG hidden states are concatenated on the channel axis; the pooled output is bigG's.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from graph_engine import InvalidNodeInput

from ..checkpoints.architecture import TextEncoderSpec
from .tokens import (END_TOKEN, PAD_WITH_END, START_TOKEN, EmbeddingLookup, TokenChunk, WordEncoder, empty_chunk,
                     tokenize_prompt)


@dataclass(frozen=True)
class HiddenLayer:
    """Which hidden state conditions: `index` into the model's hidden_states (-1: last layer's output)."""

    index: int
    final_norm: bool


@dataclass
class PromptConditioning:
    """What CLIPTextEncode hands to the sampler: hidden states [1, 77*chunks, channels] and the pooled output."""

    hidden: torch.Tensor
    pooled: torch.Tensor | None


def choose_hidden_layer(spec: TextEncoderSpec, clip_skip: int | None = None) -> HiddenLayer:
    """The family default, or CLIPSetLastLayer's `clip_skip` (negative); beyond the first layer means the last."""
    if clip_skip is None:
        return HiddenLayer(spec.hidden_layer, spec.final_norm)
    if isinstance(clip_skip, bool) or not isinstance(clip_skip, int) or clip_skip >= 0:
        raise InvalidNodeInput(f"clip skip (stop at CLIP layer) must be a negative whole number such as -1 or -2, "
                               f"not {clip_skip!r}")
    if -clip_skip > spec.config["num_hidden_layers"]:
        return HiddenLayer(-1, True)  # ComfyUI falls back to the plain last layer, normed
    return HiddenLayer(clip_skip, spec.final_norm)


def encode_chunks(model: Any, chunks: Sequence[TokenChunk], layer: HiddenLayer,
                  empty: TokenChunk) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states [1, 77*len(chunks), C] (float32) with weights applied, and the first chunk's pooled [1, P].

    `empty` is the empty prompt's chunk for this encoder (its padding matters); it is encoded only when a weight
    differs from 1, in the same batch as the prompt, as ComfyUI does.
    """
    weighted = any(chunk.weighted for chunk in chunks)
    rows = [*chunks, empty] if weighted else list(chunks)
    hidden, pooled = run_text_model(model, rows, layer)
    prompt = hidden[:len(chunks)]
    if weighted:
        reference = hidden[-1:]
        weights = torch.tensor([chunk.weights for chunk in chunks], dtype=prompt.dtype, device=prompt.device)
        weights = weights.unsqueeze(-1)
        prompt = torch.where(weights != 1.0, (prompt - reference) * weights + reference, prompt)
    return prompt.reshape(1, -1, prompt.shape[-1]), pooled[:1]


def run_text_model(model: Any, rows: Sequence[TokenChunk], layer: HiddenLayer) -> tuple[torch.Tensor, torch.Tensor]:
    """The chosen hidden state of every row [rows, 77, C] and every row's pooled output [rows, P], in float32."""
    text = model.text_model
    device = text.embeddings.token_embedding.weight.device
    ids = torch.tensor([[token if isinstance(token, int) else 0 for token in row.tokens] for row in rows],
                       dtype=torch.long, device=device)
    handle = _place_embeddings(text.embeddings.token_embedding, rows)
    try:
        with torch.no_grad():
            outputs = model(input_ids=ids, output_hidden_states=True)
    finally:
        if handle is not None:
            handle.remove()
    hidden = outputs.hidden_states[layer.index]
    if layer.final_norm:
        with torch.no_grad():
            hidden = text.final_layer_norm(hidden)
    ends = torch.tensor([row.end_index for row in rows], device=device)
    pooled = outputs.last_hidden_state[torch.arange(len(rows), device=device), ends]
    projection = getattr(model, "text_projection", None)
    if projection is not None:
        with torch.no_grad():
            pooled = projection(pooled)
    return hidden.float(), pooled.float()


def _place_embeddings(token_embedding: torch.nn.Module, rows: Sequence[TokenChunk]):
    """Swap textual-inversion vectors in for their placeholder ids in the token embedding's output."""
    places = [(r, p, token) for r, row in enumerate(rows) for p, token in enumerate(row.tokens)
              if not isinstance(token, int)]
    if not places:
        return None
    width = token_embedding.weight.shape[1]
    for _, _, vector in places:
        if tuple(vector.shape) != (width,):
            raise InvalidNodeInput(f"an embedding vector of width {tuple(vector.shape)[-1]} cannot go into a text "
                                   f"encoder of width {width}; the embedding was made for another model family")

    def replace(_module, _inputs, output):
        output = output.clone()
        for r, p, vector in places:
            output[r, p] = vector.to(device=output.device, dtype=output.dtype)
        return output

    return token_embedding.register_forward_hook(replace)


def encode_prompt(checkpoint: Any, prompt: str | Mapping[str, str], clip_skip: int | None = None, *,
                  embeddings: Mapping[str, EmbeddingLookup] | None = None,
                  encoder: WordEncoder | None = None) -> PromptConditioning:
    """Conditioning for `prompt` from a LoadedCheckpoint's text encoder(s) (anything with `.detected.text_encoders`
    and `.text_encoders`). `embeddings` maps an encoder name (clip_l, clip_g, open_clip_h) to its lookup.

    `prompt` may instead map each encoder's name to its own text (CLIPTextEncodeSDXL's text_l and text_g); the
    encoders' chunks are then evened out with empty-prompt chunks, as ComfyUI does, so no text is cut off.
    """
    chunk_lists = prompt_chunks(checkpoint, prompt, embeddings=embeddings, encoder=encoder)
    return encode_chunk_lists(checkpoint, chunk_lists, clip_skip)


def prompt_chunks(checkpoint: Any, prompt: str | Mapping[str, str], *,
                  embeddings: Mapping[str, EmbeddingLookup] | None = None,
                  encoder: WordEncoder | None = None) -> list[list[TokenChunk]]:
    """Each text encoder's token chunks for `prompt` (see encode_prompt), in the order of its encoders."""
    specs = checkpoint.detected.text_encoders
    if not isinstance(prompt, str):
        _check_texts_per_encoder(prompt, [spec.name for spec in specs])
    chunk_lists = []
    for spec in specs:
        text = prompt if isinstance(prompt, str) else prompt[spec.name]
        lookup = (embeddings or {}).get(spec.name)
        chunk_lists.append(tokenize_prompt(text, pad_with_end=PAD_WITH_END[spec.name], embeddings=lookup,
                                           encoder=encoder))
    if not isinstance(prompt, str):
        count = max(len(chunks) for chunks in chunk_lists)
        chunk_lists = [[*chunks, *[_empty(spec)] * (count - len(chunks))] for spec, chunks in zip(specs, chunk_lists)]
    return chunk_lists


def encode_chunk_lists(checkpoint: Any, chunk_lists: Sequence[Sequence[TokenChunk]],
                       clip_skip: int | None = None) -> PromptConditioning:
    """Conditioning from each text encoder's token chunks: the hidden states joined on the channel axis (cut to
    the shortest), the pooled output of the last encoder."""
    specs = checkpoint.detected.text_encoders
    hidden_states, pooled = [], None
    for spec, model, chunks in zip(specs, checkpoint.text_encoders, chunk_lists):
        hidden, pooled = encode_chunks(model, chunks, choose_hidden_layer(spec, clip_skip), _empty(spec))
        hidden_states.append(hidden)
    shortest = min(hidden.shape[1] for hidden in hidden_states)
    hidden = torch.cat([hidden[:, :shortest] for hidden in hidden_states], dim=-1)
    return PromptConditioning(hidden=hidden, pooled=pooled)


def _empty(spec: TextEncoderSpec) -> TokenChunk:
    return empty_chunk(pad=END_TOKEN if PAD_WITH_END[spec.name] else 0, start=START_TOKEN, end=END_TOKEN)


def _check_texts_per_encoder(prompts: Mapping[str, str], encoder_names: list[str]) -> None:
    if sorted(prompts) != sorted(encoder_names):
        raise InvalidNodeInput(f"this node gives a text to each of the text encoders {', '.join(sorted(prompts))}, "
                               f"and this CLIP has {', '.join(encoder_names)}: use CLIPTextEncode with this CLIP, or "
                               f"connect a CLIP that has those encoders")
