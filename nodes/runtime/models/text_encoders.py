"""CLIP: a checkpoint's text encoder(s), the clip-skip layer and where embeddings are found."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..checkpoints.architecture import CheckpointArchitecture
from ..devices import model_manager
from ..lora.views import ensure_patched
from ..text import EmbeddingFolder, encode_chunk_lists, prompt_chunks
from .clip_surface import ClipSurface
from .weight_patches import WeightPatchSurface


@dataclass(eq=False)
class TextEncoders(ClipSurface, WeightPatchSurface):
    """What flows on a CLIP wire: the encoder modules (one for SD1.x/SD2.x, two for SDXL) and what was detected
    about them; the attribute names are those of a LoadedCheckpoint, so encode_prompt takes either."""

    text_encoders: tuple[Any, ...]  # ClipTextModel, in the order of detected.text_encoders
    detected: CheckpointArchitecture
    source: str
    clip_skip: int | None = None  # CLIPSetLastLayer; None: the family's default layer
    embeddings: EmbeddingFolder | None = None
    loras: tuple = ()  # weight patches ((LoraFile, strength), add_patches entries) applied before they run

    @property
    def architecture(self) -> str:
        return str(self.detected.architecture)

    def with_clip_skip(self, clip_skip: int) -> "TextEncoders":
        """A view that stops at another layer; the modules are shared."""
        return dataclasses.replace(self, clip_skip=clip_skip)

    def with_lora(self, lora: Any, strength: float) -> "TextEncoders":
        """A view with one more LoRA; the encoder modules are shared."""
        return dataclasses.replace(self, loras=(*self.loras, (lora, strength)))

    def encode(self, text: str | Mapping[str, str]) -> list:
        """ComfyUI CONDITIONING for `text` (or one text per encoder name, see encode_prompt):
        [[hidden [1, tokens, width], {"pooled_output": pooled}]]."""
        encoded = self.encode_chunk_lists(prompt_chunks(self, text, embeddings=self.embedding_lookups()))
        return [[encoded.hidden, {"pooled_output": encoded.pooled}]]

    def embedding_lookups(self) -> dict | None:
        """Each encoder's textual-inversion lookup, from this CLIP's embeddings folders."""
        return self.embeddings.lookups(self) if self.embeddings is not None else None

    def encode_chunk_lists(self, chunk_lists: list) -> Any:
        """PromptConditioning for each encoder's token chunks, with the encoders ready and carrying this view's
        LoRAs."""
        model_manager().use(*self.text_encoders)
        ensure_patched(self.loras, text_encoders=self.text_encoders)
        return encode_chunk_lists(self, chunk_lists, self.clip_skip)
