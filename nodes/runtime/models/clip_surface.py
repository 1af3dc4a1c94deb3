"""ComfyUI's CLIP methods that plugins call on a CLIP value: `tokenize`, `encode_from_tokens` (and its scheduled
form), `clone`, `clip_layer`, over Latentloom's tokenizer and encoders, so a plugin's encoding equals CLIPTextEncode's.

ComfyUI's tokens are a dict with one entry per text encoder ("l" for CLIP-L, "g" for OpenCLIP bigG, "h" for
OpenCLIP ViT-H), each a list of 77-token chunks of (token, weight) pairs, or (token, weight, word id) triples; a token
is an id, or an embedding's vector.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any


from graph_engine import InvalidNodeInput

from ..text import prompt_chunks
from ..text.tokens import END_TOKEN, TokenChunk

TOKEN_KEYS = {"clip_l": "l", "clip_g": "g", "open_clip_h": "h"}  # our encoder names -> ComfyUI's token dict keys

ComfyTokens = dict[str, list[list[tuple]]]


def chunk_to_comfy(chunk: TokenChunk, word_ids: bool) -> list[tuple]:
    if word_ids:
        return list(zip(chunk.tokens, chunk.weights, chunk.word_ids))
    return list(zip(chunk.tokens, chunk.weights))


def chunk_from_comfy(pairs: Sequence[Sequence[Any]], key: str) -> TokenChunk:
    """A ComfyUI chunk as ours; the pooled output is read at its first end token after the start, as CLIP does."""
    if not pairs or any(len(pair) < 2 for pair in pairs):
        raise InvalidNodeInput(f"the tokens under '{key}' must be chunks of (token, weight) pairs, as "
                               "clip.tokenize(text) gives them")
    tokens = tuple(pair[0] for pair in pairs)
    weights = tuple(float(pair[1]) for pair in pairs)
    word_ids = tuple(int(pair[2]) if len(pair) > 2 else 0 for pair in pairs)
    end = next((i for i, token in enumerate(tokens) if i > 0 and isinstance(token, int) and token == END_TOKEN),
               len(tokens) - 1)
    return TokenChunk(tokens, weights, word_ids, end)


class ClipSurface:
    """Mixed into TextEncoders (which gives `detected`, `clip_skip`, `prepared_for_encoding`, `embedding_lookups`
    and `encode_chunk_lists`)."""

    detected: Any
    clip_skip: int | None

    def _token_keys(self) -> list[tuple[str, str]]:
        return [(spec.name, TOKEN_KEYS[spec.name]) for spec in self.detected.text_encoders]

    def tokenize(self, text: str, return_word_ids: bool = False, **kwargs: Any) -> ComfyTokens:
        """ComfyUI's tokens for `text`: the chunks CLIPTextEncode would encode, weights and embeddings included."""
        chunk_lists = prompt_chunks(self, text, embeddings=self.embedding_lookups())
        return {key: [chunk_to_comfy(chunk, return_word_ids) for chunk in chunks]
                for (_, key), chunks in zip(self._token_keys(), chunk_lists)}

    def encode_from_tokens(self, tokens: Mapping[str, Any], return_pooled: bool | str = False,
                           return_dict: bool = False) -> Any:
        """The hidden states [1, tokens, width] for ComfyUI's tokens; with return_pooled, (hidden, pooled); with
        return_dict, {"cond": hidden, "pooled_output": pooled}."""
        chunk_lists = []
        for name, key in self._token_keys():
            if key not in tokens:
                raise InvalidNodeInput(f"these tokens have no '{key}' entry, which this CLIP's {name} encoder reads "
                                       f"(it has {', '.join(sorted(tokens)) or 'none'}): tokenize the text with this "
                                       "CLIP")
            chunk_lists.append([chunk_from_comfy(chunk, key) for chunk in tokens[key]])
        encoded = self.encode_chunk_lists(chunk_lists)
        if return_dict:
            return {"cond": encoded.hidden, "pooled_output": encoded.pooled}
        if return_pooled:
            return encoded.hidden, encoded.pooled
        return encoded.hidden

    def encode_from_tokens_scheduled(self, tokens: Mapping[str, Any], unprojected: bool = False,
                                     add_dict: Mapping[str, Any] | None = None, show_pbar: bool = True) -> list:
        """CONDITIONING for the tokens ([[hidden, {"pooled_output": pooled, **add_dict}]]): no hooks here, so one
        entry for the whole schedule."""
        encoded = self.encode_from_tokens(tokens, return_dict=True)
        return [[encoded.pop("cond"), {**encoded, **(add_dict or {})}]]

    def clone(self) -> Any:
        """A CLIP sharing the encoders, whose clip_layer and LoRAs are its own."""
        return dataclasses.replace(self)

    def clip_layer(self, layer_idx: int) -> None:
        """Stop at this layer (-1 the last, -2 the one before...), as CLIPSetLastLayer does on its clone."""
        self.clip_skip = layer_idx

    def reset_clip_options(self) -> None:
        self.clip_skip = None


__all__ = ["ClipSurface", "TOKEN_KEYS", "chunk_from_comfy", "chunk_to_comfy"]
