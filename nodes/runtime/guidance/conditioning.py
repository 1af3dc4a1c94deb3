"""Reading ComfyUI CONDITIONING: a list of [hidden states, options] entries, each predicted on its own and mixed.

Options understood: "pooled_output" (SDXL), "area" (h, w, y, x in latent pixels, from ConditioningSetArea), "strength",
"start_percent"/"end_percent" (the part of sampling an entry applies to), and SDXL's size conditioning "width",
"height", "crop_w", "crop_h", "target_width", "target_height" (defaults: the image's size, no crop, as ComfyUI).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from graph_engine import InvalidNodeInput

SIZE_KEYS = ("width", "height", "crop_w", "crop_h", "target_width", "target_height")


@dataclass(frozen=True)
class CondEntry:
    """One conditioning entry, checked."""

    context: torch.Tensor  # [1, tokens, width]
    pooled: torch.Tensor | None  # [1, pooled width]
    area: tuple[int, int, int, int] | None  # (height, width, y, x) in latent pixels
    strength: float
    start_percent: float
    end_percent: float
    options: dict[str, Any]

    def time_ids(self, image_width: int, image_height: int) -> torch.Tensor:
        """SDXL's [original h, w, crop top, left, target h, w]; unset sizes are the image's own (ComfyUI's rule)."""
        width = self.options.get("width", image_width)
        height = self.options.get("height", image_height)
        values = (height, width, self.options.get("crop_h", 0), self.options.get("crop_w", 0),
                  self.options.get("target_height", height), self.options.get("target_width", width))
        return torch.tensor([values], dtype=torch.float32)

    def region(self, latent_height: int, latent_width: int) -> tuple[int, int, int, int]:
        """(h, w, y, x) clipped to the latent; the whole latent when no area was set."""
        if self.area is None:
            return latent_height, latent_width, 0, 0
        h, w, y, x = self.area
        y, x = min(y, latent_height - 1), min(x, latent_width - 1)
        return max(1, min(h, latent_height - y)), max(1, min(w, latent_width - x)), y, x


def read_conditioning(conditioning: Any, name: str) -> list[CondEntry]:
    """Check and read a CONDITIONING input; `name` (positive/negative) goes into the error messages."""
    if not isinstance(conditioning, (list, tuple)):
        raise InvalidNodeInput(f"{name}: CONDITIONING must be a list of [tensor, options] entries (from "
                               f"CLIPTextEncode), got {type(conditioning).__name__}")
    entries = []
    for index, item in enumerate(conditioning):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], torch.Tensor)
                and isinstance(item[1], dict)):
            raise InvalidNodeInput(f"{name}: conditioning entry {index} is not [tensor, options]")
        context, options = item
        if context.ndim == 2:
            context = context.unsqueeze(0)
        if context.ndim != 3:
            raise InvalidNodeInput(f"{name}: conditioning entry {index} has shape {tuple(context.shape)}; expected "
                                   f"[batch, tokens, width]")
        area = options.get("area")
        if area is not None and not (isinstance(area, (list, tuple)) and len(area) == 4):
            raise InvalidNodeInput(f"{name}: conditioning entry {index} has an area {area!r}; only rectangles "
                                   f"(height, width, y, x) are supported")
        entries.append(CondEntry(context=context, pooled=options.get("pooled_output"),
                                 area=tuple(int(v) for v in area) if area is not None else None,
                                 strength=float(options.get("strength", 1.0)),
                                 start_percent=float(options.get("start_percent", 0.0)),
                                 end_percent=float(options.get("end_percent", 1.0)),
                                 options={k: options[k] for k in SIZE_KEYS if k in options}))
    return entries
