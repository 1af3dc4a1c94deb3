"""Weighted prompt -> CLIP token chunks of 77 (BOS, 75 tokens, EOS, padding), split where ComfyUI splits them.

Each word is tokenised on its own and keeps its segment's weight. A chunk holds at most 75 tokens; a word that would
cross the boundary moves whole to the next chunk unless it is 8 tokens or longer, in which case it is cut there.
SD1's CLIP-L (also SDXL's) pads with the end token, the OpenCLIP encoders (SD2's H, SDXL's bigG) with 0.
No torch here: an embedding vector is carried as an opaque token for the encoder to place.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from graph_engine import current_folders

from ..model_hints import missing_embedding_message
from .prompt_weights import EMBEDDING_PREFIX, parse_prompt_weights, prompt_words

log = logging.getLogger(__name__)

START_TOKEN = 49406
END_TOKEN = 49407
CHUNK_LENGTH = 77  # BOS + 75 + EOS
LONG_WORD = 8  # words of this many tokens or more may be cut across chunks
PAD_WITH_END = {"clip_l": True, "open_clip_h": False, "clip_g": False}  # by TextEncoderSpec.name

Token = Any  # an int token id, or one textual-inversion vector
WeightedWord = list[tuple[Token, float]]
EmbeddingLookup = Callable[[str], Any]  # name -> vectors (one per row, or one 1-D vector); None when missing


class WordEncoder(Protocol):
    def encode(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class TokenChunk:
    """One 77-token window the text encoder sees, with a weight and word number per position."""

    tokens: tuple[Token, ...]
    weights: tuple[float, ...]
    word_ids: tuple[int, ...]  # 0 for BOS, EOS and padding; n for the n-th word (or embedding) of the prompt
    end_index: int  # position of the EOS token, where CLIP's pooled output is read

    @property
    def weighted(self) -> bool:
        return any(weight != 1.0 for weight in self.weights)


@lru_cache(maxsize=1)
def clip_tokenizer() -> WordEncoder:
    """instant_clip_tokenizer with its bundled vocabulary (lowercases; no network). Built once: it is slow to build."""
    import instant_clip_tokenizer

    return instant_clip_tokenizer.Tokenizer()


def tokenize_prompt(prompt: str, *, pad_with_end: bool = True, embeddings: EmbeddingLookup | None = None,
                    encoder: WordEncoder | None = None, start: int = START_TOKEN, end: int = END_TOKEN,
                    length: int = CHUNK_LENGTH) -> list[TokenChunk]:
    """Token chunks for one text encoder; always at least one (the empty prompt gives BOS, EOS, padding)."""
    words = weighted_words(prompt, embeddings=embeddings, encoder=encoder)
    return split_into_chunks(words, pad=end if pad_with_end else 0, start=start, end=end, length=length)


def weighted_words(prompt: str, *, embeddings: EmbeddingLookup | None = None,
                   encoder: WordEncoder | None = None) -> list[WeightedWord]:
    """Each word's tokens with its weight; `embedding:name` becomes that embedding's vectors when `embeddings` knows
    the name (commas around it are tried off), and is dropped with a warning when it does not."""
    encoder = encoder or clip_tokenizer()
    words: list[WeightedWord] = []
    for segment in parse_prompt_weights(prompt):
        for word in prompt_words(segment.text):
            if embeddings is not None and word.startswith(EMBEDDING_PREFIX):
                vectors, word = _embedding_vectors(word[len(EMBEDDING_PREFIX):], embeddings)
                if vectors:
                    words.append([(vector, segment.weight) for vector in vectors])
                if not word:
                    continue
            words.append([(token, segment.weight) for token in encoder.encode(word)])
    return words


def _embedding_vectors(name: str, embeddings: EmbeddingLookup) -> tuple[list[Any], str]:
    """(vectors, text left over after the name), as ComfyUI does for `embedding:name,`."""
    found, leftover = embeddings(name), ""
    if found is None:
        stripped = name.strip(",")
        if len(stripped) < len(name):
            found, leftover = embeddings(stripped), name[len(stripped):]
    if found is None:
        log.warning("%s", missing_embedding_message(current_folders(), name))
        return [], leftover
    if getattr(found, "ndim", 2) == 1:
        return [found], leftover
    return list(found), leftover


def split_into_chunks(words: Sequence[WeightedWord], *, pad: int, start: int = START_TOKEN, end: int = END_TOKEN,
                      length: int = CHUNK_LENGTH) -> list[TokenChunk]:
    """Pack words into chunks of `length`, keeping words shorter than LONG_WORD tokens in one chunk."""
    room = length - 2
    chunks: list[list[tuple[Token, float, int]]] = [[]]
    for number, word in enumerate(words, start=1):
        rest = list(word)
        cut_allowed = len(rest) >= LONG_WORD
        while rest:
            current = chunks[-1]
            if len(current) + len(rest) <= room:
                current.extend((token, weight, number) for token, weight in rest)
                rest = []
                continue
            if cut_allowed:
                free = room - len(current)
                current.extend((token, weight, number) for token, weight in rest[:free])
                rest = rest[free:]
            chunks.append([])
    return [_framed(body, pad, start, end, length) for body in chunks]


def _framed(body: list[tuple[Token, float, int]], pad: int, start: int, end: int, length: int) -> TokenChunk:
    padding = length - len(body) - 2
    tokens = (start, *(token for token, _, _ in body), end) + (pad,) * padding
    weights = (1.0, *(weight for _, weight, _ in body), 1.0) + (1.0,) * padding
    word_ids = (0, *(number for _, _, number in body), 0) + (0,) * padding
    return TokenChunk(tokens, weights, word_ids, end_index=len(body) + 1)


def empty_chunk(*, pad: int, start: int = START_TOKEN, end: int = END_TOKEN, length: int = CHUNK_LENGTH) -> TokenChunk:
    """The empty prompt's chunk: the reference that weights scale against."""
    return _framed([], pad, start, end, length)
