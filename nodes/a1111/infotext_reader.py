"""Reading AUTOMATIC1111's `parameters` text: prompt, negative prompt, the "Key: value" fields and LoRA tags.

The text is three parts: prompt lines, then an optional "Negative prompt:" part (which may span lines), then one
line of comma-separated fields. A1111 only counts the last line as fields when it holds at least three of them, so
a prompt whose last line happens to contain "a: b" is not mistaken for settings; values with a comma, colon or
newline are JSON-quoted.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

NEGATIVE_PREFIX = "Negative prompt:"
FIELD = re.compile(r'\s*(\w[\w \-/+]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
# <lora:name:weight>, <lora:name:te weight:unet weight>, and LyCORIS' <lyco:...>, which A1111 now reads the same way
LORA_TAG = re.compile(r"<(?:lora|lyco):([^:>]+)(?::([^:>]*))?(?::([^:>]*))?>", re.IGNORECASE)


@dataclass(frozen=True)
class LoraTag:
    """One `<lora:...>` tag: the name as written (a file stem) and the two strengths."""

    name: str
    text_encoder: float
    unet: float


@dataclass
class Infotext:
    """A parsed `parameters` text; `prompt` has its LoRA tags removed (they are in `loras`)."""

    prompt: str
    negative_prompt: str
    fields: dict[str, str] = field(default_factory=dict)
    loras: list[LoraTag] = field(default_factory=list)


def _fields(line: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in FIELD.findall(line):
        if value.startswith('"') and value.endswith('"') and len(value) > 1:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        found[key.strip()] = value.strip() if isinstance(value, str) else value
    return found


def _strength(written: str | None, default: float, tag: str) -> float:
    if written is None or not written.strip():
        return default
    try:
        return float(written)
    except ValueError:
        raise ValueError(f"LoRA tag {tag}: {written!r} is not a number") from None


def lora_tags(prompt: str) -> tuple[str, list[LoraTag]]:
    """The prompt without its LoRA tags (and the separators they leave), and the tags in order."""
    tags = []
    for match in LORA_TAG.finditer(prompt):
        text_encoder = _strength(match.group(2), 1.0, match.group(0))
        unet = _strength(match.group(3), text_encoder, match.group(0))
        tags.append(LoraTag(match.group(1).strip(), text_encoder, unet))
    cleaned = LORA_TAG.sub("", prompt)
    cleaned = re.sub(r"\s*,(\s*,)+", ",", cleaned)  # "a, <lora:x:1>, b" leaves "a, , b"
    return cleaned.strip().strip(",").strip(), tags


def parse_infotext(text: str) -> Infotext:
    """Split a `parameters` text the way A1111's PNG Info does. Raises ValueError for a malformed LoRA tag."""
    lines = text.strip().replace("\r\n", "\n").split("\n")
    fields = _fields(lines[-1])
    if len(fields) >= 3:
        lines = lines[:-1]
    else:
        fields = {}
    prompt_lines, negative_lines, in_negative = [], [], False
    for line in lines:
        if not in_negative and line.startswith(NEGATIVE_PREFIX):
            in_negative = True
            line = line[len(NEGATIVE_PREFIX):].lstrip()
        (negative_lines if in_negative else prompt_lines).append(line)
    prompt, loras = lora_tags("\n".join(prompt_lines).strip())
    return Infotext(prompt, "\n".join(negative_lines).strip(), fields, loras)
