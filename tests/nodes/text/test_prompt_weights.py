"""ComfyUI's weight syntax; every expectation below is worked out by hand from its rules."""
from __future__ import annotations

import pytest

from nodes.runtime.text.prompt_weights import (PromptSegment, embedding_name, find_embeddings, parse_prompt_weights,
                                               prompt_words)


def pairs(prompt):
    return [(segment.text, segment.weight) for segment in parse_prompt_weights(prompt)]


@pytest.mark.parametrize("prompt, expected", [
    ("a photo of a cat", [("a photo of a cat", 1.0)]),
    ("a (cat) dog", [("a ", 1.0), ("cat", 1.1), (" dog", 1.0)]),
    ("(cat:1.5)", [("cat", 1.5)]),
    ("(cat:0.25), dog", [("cat", 0.25), (", dog", 1.0)]),
    ("(cat: 1.2 )", [("cat", 1.2)]),  # float() forgives spaces
    ("(big cat:1.5) and (dog:0.8)", [("big cat", 1.5), (" and ", 1.0), ("dog", 0.8)]),
    ("((cat:1.5))", [("cat", 1.5)]),  # an explicit weight replaces the 1.1 of the outer group
    ("(a (b:0.5) c)", [("a ", 1.1), ("b", 0.5), (" c", 1.1)]),
    ("(ratio:wide)", [("ratio:wide", 1.1)]),  # not a number: the colon is text
    ("(:1.5)", [(":1.5", 1.1)]),  # a colon in first place is text too
    ("(a:b:2)", [("a:b", 2.0)]),  # the last colon counts
    ("[cat]", [("[cat]", 1.0)]),  # square brackets mean nothing in ComfyUI
    ("\\(cat\\)", [("(cat)", 1.0)]),
    ("(a \\(b\\):1.3)", [("a (b)", 1.3)]),
    ("cat) dog", [("cat) dog", 1.0)]),  # a stray ")" is text
    ("(cat", [("(cat", 1.0)]),  # so is an unclosed group
    ("()", []),
    ("", []),
])
def test_weights_follow_comfyui_rules(prompt, expected):
    got = pairs(prompt)
    assert [text for text, _ in got] == [text for text, _ in expected]
    assert [weight for _, weight in got] == pytest.approx([weight for _, weight in expected])


def test_nested_parentheses_multiply():
    assert pairs("((cat))") == [("cat", pytest.approx(1.1 * 1.1))]
    assert pairs("(((cat)) dog)") == [("cat", pytest.approx(1.1 ** 3)), (" dog", pytest.approx(1.1))]
    assert pairs("((cat):2)") == [("cat", pytest.approx(2.2))]  # inner group multiplies the explicit outer weight


def test_segments_are_data():
    assert parse_prompt_weights("(x:2)") == [PromptSegment("x", 2.0)]


def test_words_and_embeddings():
    assert prompt_words("a  photo\nof ") == ["a", "photo", "of"]
    assert embedding_name("embedding:style") == "style"
    assert embedding_name("style") is None
    assert find_embeddings("embedding:foo, (embedding:bar:1.2) embedding:foo\nembedding:baz") == ["foo", "bar", "baz"]
    assert find_embeddings("no embeddings here, embedding :x") == []
