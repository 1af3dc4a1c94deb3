"""Prompt weight syntax as ComfyUI reads it: `(word:1.2)`, `(word)` = x1.1, `\\(` literal, `embedding:name`.

ComfyUI's rules, which differ from A1111's in places a user may notice:
- `(text)` multiplies the surrounding weight by 1.1; nesting multiplies again.
- `(text:w)` sets the weight to `w`, replacing (not multiplying) the surrounding one.
- If what follows the last `:` is not a number, the colon stays in the text and the group counts as `(text)`.
- `[text]` has no meaning (no down-weighting); `\\(` and `\\)` are literal parentheses.
- An unbalanced `)` is kept as text; an unclosed `(` keeps its text at the surrounding weight.
Pure Python: no torch.
"""
from __future__ import annotations

from dataclasses import dataclass

EMBEDDING_PREFIX = "embedding:"
BRACKET_WEIGHT = 1.1
# Escaped parentheses are swapped for characters a prompt never holds while the groups are parsed.
_ESCAPES = (("\\)", "\0\1"), ("\\(", "\0\2"))


@dataclass(frozen=True)
class PromptSegment:
    """A run of prompt text that shares one weight."""

    text: str
    weight: float


def parse_prompt_weights(prompt: str) -> list[PromptSegment]:
    """Split `prompt` into weighted segments, in order; escaped parentheses come back as plain `(` and `)`."""
    hidden = prompt
    for escaped, stand_in in _ESCAPES:
        hidden = hidden.replace(escaped, stand_in)
    return [PromptSegment(_unescape(text), weight) for text, weight in _weighted_groups(hidden, 1.0)]


def _unescape(text: str) -> str:
    for escaped, stand_in in _ESCAPES:
        text = text.replace(stand_in, escaped[1])
    return text


def _weighted_groups(text: str, weight: float) -> list[tuple[str, float]]:
    segments = []
    for group in _top_level_groups(text):
        if len(group) < 2 or not (group.startswith("(") and group.endswith(")")):
            segments.append((group, weight))
            continue
        inner, inner_weight = group[1:-1], weight * BRACKET_WEIGHT
        colon = inner.rfind(":")
        if colon > 0:  # a leading ":" is text, as in ComfyUI
            try:
                inner_weight = float(inner[colon + 1:])
                inner = inner[:colon]
            except ValueError:
                pass
        segments += _weighted_groups(inner, inner_weight)
    return segments


def _top_level_groups(text: str) -> list[str]:
    """Plain runs and outermost `( ... )` groups, in order; a stray `)` stays inside the text around it."""
    groups, current, depth = [], "", 0
    for char in text:
        if char == "(":
            if depth == 0:
                if current:
                    groups.append(current)
                current = ""
            current += char
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                groups.append(current + ")")
                current = ""
            else:
                current += char
        else:
            current += char
    if current:
        groups.append(current)
    return groups


def prompt_words(text: str) -> list[str]:
    """The words CLIP sees one at a time: split on spaces and newlines, empties dropped."""
    return [word for word in text.replace("\n", " ").split(" ") if word]


def embedding_name(word: str) -> str | None:
    """The textual-inversion name a word refers to (`embedding:name` -> `name`), else None."""
    if word.startswith(EMBEDDING_PREFIX):
        return word[len(EMBEDDING_PREFIX):]
    return None


def find_embeddings(prompt: str) -> list[str]:
    """Names of the embeddings a prompt refers to, in order of first use, commas around them stripped."""
    names: list[str] = []
    for segment in parse_prompt_weights(prompt):
        for word in prompt_words(segment.text):
            name = embedding_name(word)
            if name is not None:
                name = name.strip(",") or name
                if name and name not in names:
                    names.append(name)
    return names
