"""What a LoRA's trainer wrote into its header: base model, network size, trigger words.

kohya's sd-scripts writes `ss_*` keys (`ss_base_model_version`, `ss_network_dim`, `ss_network_alpha`,
`ss_network_module`, `ss_tag_frequency`...), Stability's model spec writes `modelspec.*` keys. A LoRA "does
nothing" most often because its trigger words are missing from the prompt, so they are shown next to the file: the
words the file states (`modelspec.trigger_phrase`, `ss_trigger_words`) and, apart from them, the tags that were most
frequent in the training captions (`ss_tag_frequency`), which is where users find undeclared trigger words.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass

STATED_TRIGGER_KEYS = ("modelspec.trigger_phrase", "ss_trigger_words", "trigger_words")
TOP_TAGS = 8


@dataclass(frozen=True)
class TrainingInfo:
    """Training facts read from metadata; None or empty where the file does not say."""

    base_model: str | None  # as the file says it, e.g. "sdxl_base_v1-0", "sd_v1"
    network_module: str | None  # e.g. "networks.lora", "lycoris.kohya"
    network_dim: int | None
    network_alpha: float | None
    trigger_words: tuple[str, ...]  # stated by the file
    top_tags: tuple[str, ...]  # the most frequent caption tags, most frequent first
    title: str | None

    def as_json(self) -> dict:
        return asdict(self) | {"trigger_words": list(self.trigger_words), "top_tags": list(self.top_tags)}


def read_training_info(metadata: Mapping[str, str]) -> TrainingInfo | None:
    """The training facts of a header's metadata; None when it has no trainer keys at all."""
    if not any(key.startswith(("ss_", "modelspec.")) or key in STATED_TRIGGER_KEYS for key in metadata):
        return None
    return TrainingInfo(
        base_model=metadata.get("ss_base_model_version") or metadata.get("modelspec.architecture"),
        network_module=metadata.get("ss_network_module"),
        network_dim=_number(metadata.get("ss_network_dim"), int),
        network_alpha=_number(metadata.get("ss_network_alpha"), float),
        trigger_words=_stated_words(metadata),
        top_tags=_frequent_tags(metadata.get("ss_tag_frequency")),
        title=metadata.get("modelspec.title") or metadata.get("ss_output_name"))


def _number(text: str | None, kind: type) -> int | float | None:
    try:
        return kind(float(text)) if text not in (None, "", "None") else None
    except ValueError:
        return None


def _stated_words(metadata: Mapping[str, str]) -> tuple[str, ...]:
    words: list[str] = []
    for key in STATED_TRIGGER_KEYS:
        for word in str(metadata.get(key) or "").split(","):
            word = word.strip()
            if word and word not in words:
                words.append(word)
    return tuple(words)


def _frequent_tags(text: str | None) -> tuple[str, ...]:
    """ss_tag_frequency is JSON {dataset folder: {tag: count}}; counts are summed over folders."""
    try:
        folders = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return ()
    counts: Counter[str] = Counter()
    for tags in folders.values() if isinstance(folders, dict) else ():
        if isinstance(tags, dict):
            for tag, count in tags.items():
                if isinstance(count, (int, float)) and str(tag).strip():
                    counts[str(tag).strip()] += count
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].casefold()))
    return tuple(tag for tag, _ in ranked[:TOP_TAGS])
