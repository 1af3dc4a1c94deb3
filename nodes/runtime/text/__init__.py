"""Prompt text -> weighted CLIP token chunks -> conditioning, reproducing ComfyUI's CLIPTextEncode."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .prompt_weights import EMBEDDING_PREFIX, PromptSegment, embedding_name, find_embeddings, parse_prompt_weights
from .tokens import (CHUNK_LENGTH, END_TOKEN, PAD_WITH_END, START_TOKEN, TokenChunk, clip_tokenizer, empty_chunk,
                     split_into_chunks, tokenize_prompt, weighted_words)

if TYPE_CHECKING:
    from .embeddings import EmbeddingFolder
    from .encode import (HiddenLayer, PromptConditioning, choose_hidden_layer, encode_chunk_lists, encode_chunks,
                         encode_prompt, prompt_chunks)

# These import torch, so they load on first use: importing this package stays cheap.
_LAZY = {"HiddenLayer": "encode", "PromptConditioning": "encode", "choose_hidden_layer": "encode",
         "encode_chunks": "encode", "encode_prompt": "encode", "encode_chunk_lists": "encode",
         "prompt_chunks": "encode", "EmbeddingFolder": "embeddings"}

__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    "EMBEDDING_PREFIX", "PromptSegment", "embedding_name", "find_embeddings", "parse_prompt_weights",
    "CHUNK_LENGTH", "END_TOKEN", "PAD_WITH_END", "START_TOKEN", "TokenChunk", "clip_tokenizer", "empty_chunk",
    "split_into_chunks", "tokenize_prompt", "weighted_words", *sorted(_LAZY),
]
