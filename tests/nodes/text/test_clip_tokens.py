"""Prompt -> 77-token chunks: the tokenizer's own ids in BOS/EOS framing, weights per token, ComfyUI's chunking."""
from __future__ import annotations

import logging

import instant_clip_tokenizer
import pytest

from graph_engine import Folders, using_folders
from nodes.runtime.text.tokens import (CHUNK_LENGTH, END_TOKEN, START_TOKEN, empty_chunk, tokenize_prompt,
                                       weighted_words)

BOS, EOS = 49406, 49407


@pytest.fixture(scope="module")
def reference():
    return instant_clip_tokenizer.Tokenizer()


class CountingWords:
    """A stand-in tokenizer: word `wN` is N tokens (ids 1000+i), any other word one token (its length)."""

    def encode(self, word: str) -> list[int]:
        if word.startswith("w") and word[1:].isdigit():
            return [1000 + i for i in range(int(word[1:]))]
        return [len(word)]


def test_special_tokens_are_clips():
    assert (START_TOKEN, END_TOKEN) == (BOS, EOS) == (instant_clip_tokenizer.Tokenizer().start_of_text(),
                                                      instant_clip_tokenizer.Tokenizer().end_of_text())


@pytest.mark.parametrize("prompt", ["a photo of a cat", "A Photo, of a CAT!  highly-detailed\n8k wallpaper",
                                    "masterpiece, best quality, 1girl, (solo)", "naïve café"])
def test_tokens_are_the_tokenizers_own_in_bos_eos_framing(prompt, reference):
    plain = prompt.replace("(", "").replace(")", "")
    ids = reference.encode(plain)
    [chunk] = tokenize_prompt(prompt)
    assert chunk.tokens == (BOS, *ids, EOS) + (EOS,) * (CHUNK_LENGTH - 2 - len(ids))
    assert chunk.end_index == len(ids) + 1
    assert len(chunk.tokens) == len(chunk.weights) == len(chunk.word_ids) == CHUNK_LENGTH
    [open_clip_chunk] = tokenize_prompt(prompt, pad_with_end=False)  # SD2's and SDXL bigG's padding
    assert open_clip_chunk.tokens == (BOS, *ids, EOS) + (0,) * (CHUNK_LENGTH - 2 - len(ids))


def test_weights_are_carried_per_token(reference):
    [chunk] = tokenize_prompt("a (red fox:1.5) on ((snow))")
    words = ["a", "red", "fox", "on", "snow"]
    expected_weights = [1.0, 1.5, 1.5, 1.0, 1.21]
    ids, weights, word_ids = [], [], []
    for number, (word, weight) in enumerate(zip(words, expected_weights), start=1):
        tokens = reference.encode(word)
        ids += tokens
        weights += [weight] * len(tokens)
        word_ids += [number] * len(tokens)
    n = len(ids)
    assert chunk.tokens[:n + 2] == (BOS, *ids, EOS)
    assert chunk.weights[1:n + 1] == pytest.approx(weights)
    assert set(chunk.weights[:1] + chunk.weights[n + 1:]) == {1.0}
    assert chunk.word_ids == (0, *word_ids) + (0,) * (CHUNK_LENGTH - 1 - n)
    assert chunk.weighted and not tokenize_prompt("a red fox")[0].weighted


def test_empty_prompt_is_one_framed_chunk():
    assert tokenize_prompt("") == [empty_chunk(pad=EOS)]
    assert empty_chunk(pad=0).tokens == (BOS, EOS) + (0,) * 75
    assert empty_chunk(pad=0).end_index == 1


def test_a_100_token_prompt_gives_two_chunks(reference):
    prompt = " ".join(["cat"] * 100)
    assert len(reference.encode(prompt)) == 100
    first, second = tokenize_prompt(prompt)
    cat = reference.encode("cat")[0]
    assert first.tokens == (BOS,) + (cat,) * 75 + (EOS,)
    assert second.tokens == (BOS,) + (cat,) * 25 + (EOS,) + (EOS,) * 50
    assert second.word_ids[1:26] == tuple(range(76, 101))
    assert (first.end_index, second.end_index) == (76, 26)


def test_a_short_word_crossing_the_boundary_moves_whole():
    first, second = tokenize_prompt(" ".join(["w1"] * 74 + ["w3", "w1"]), encoder=CountingWords())
    assert first.tokens == (BOS,) + (1000,) * 74 + (EOS, EOS)  # no room for w3's 3 tokens: padded instead
    assert second.tokens[:6] == (BOS, 1000, 1001, 1002, 1000, EOS)
    assert second.word_ids[:6] == (0, 75, 75, 75, 76, 0)


def test_a_long_word_is_cut_at_the_boundary():
    first, second = tokenize_prompt(" ".join(["w1"] * 70 + ["w10"]), encoder=CountingWords())
    assert first.tokens == (BOS,) + (1000,) * 70 + tuple(range(1000, 1005)) + (EOS,)
    assert second.tokens[:7] == (BOS, 1005, 1006, 1007, 1008, 1009, EOS)
    assert first.word_ids[-2] == second.word_ids[1] == 71


def test_exactly_75_tokens_fit_one_chunk():
    assert len(tokenize_prompt(" ".join(["w1"] * 75), encoder=CountingWords())) == 1
    assert len(tokenize_prompt(" ".join(["w1"] * 76), encoder=CountingWords())) == 2


def test_embeddings_become_their_vectors_with_the_words_weight(caplog, tmp_path):
    vectors = {"style": ["v0", "v1", "v2"]}
    chunk, = tokenize_prompt("a (embedding:style:1.2) embedding:style, cat", encoder=CountingWords(),
                             embeddings=vectors.get)
    assert chunk.tokens[:10] == (BOS, 1, "v0", "v1", "v2", "v0", "v1", "v2", 1, 3)  # "," left over after the name
    assert chunk.weights[:10] == (1.0, 1.0, 1.2, 1.2, 1.2, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert chunk.word_ids[:10] == (0, 1, 2, 2, 2, 3, 3, 3, 4, 5)
    with caplog.at_level(logging.WARNING), using_folders(Folders.under(tmp_path)):  # the warning names its folder
        chunk, = tokenize_prompt("embedding:missing cat", encoder=CountingWords(), embeddings=vectors.get)
    assert chunk.tokens[:3] == (BOS, 3, EOS) and "missing" in caplog.text
    # without an embedding lookup the words are plain text, as in ComfyUI without an embeddings folder
    assert weighted_words("embedding:style", encoder=CountingWords()) == [[(len("embedding:style"), 1.0)]]
