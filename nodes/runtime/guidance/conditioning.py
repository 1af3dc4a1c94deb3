"""Reading ComfyUI CONDITIONING: a list of [hidden states, options] entries, each predicted on its own and mixed.

Options understood: "pooled_output" (SDXL); where an entry applies: "area" ((h, w, y, x) in latent pixels from
ConditioningSetArea, or ("percentage", h, w, y, x) in fractions of the latent), "mask" (a [batch, height, width]
mask, any size: scaled to the latent) with "mask_strength" and "set_area_to_bounds" (the mask's bounding box becomes
the area); how much it weighs: "strength"; when: "start_percent"/"end_percent" (the part of sampling it applies to);
SDXL's size conditioning "width", "height", "crop_w", "crop_h", "target_width", "target_height" (defaults: the
image's size, no crop, as ComfyUI); for inpainting and InstructPix2Pix models "concat_latent_image" and
"concat_mask", for the SD x4 upscaler "concat_image" and "noise_augmentation"; "unclip_conditioning" (unCLIP models); "control" (ControlNets, T2I-Adapters: guidance/cfg.py asks it
for residuals each step); and "gligen" (GLIGEN's boxes, kept in `options`: runtime/gligen makes them the
transformer blocks' middle patch).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from graph_engine import InvalidNodeInput

SIZE_KEYS = ("width", "height", "crop_w", "crop_h", "target_width", "target_height")
CONCAT_KEYS = ("concat_latent_image", "concat_mask", "concat_image", "noise_augmentation")  # last two: SD x4
IMAGE_EMBEDDING_KEYS = ("unclip_conditioning",)  # unCLIP models: clip_vision/unclip.py

Area = tuple[int, int, int, int]  # (height, width, y, x) in latent pixels


@dataclass(frozen=True)
class CondEntry:
    """One conditioning entry, checked: what it says (context, pooled, options) and where and when it applies."""

    context: torch.Tensor  # [1, tokens, width]
    pooled: torch.Tensor | None  # [1, pooled width]
    area: Area | None
    strength: float
    start_percent: float
    end_percent: float
    options: dict[str, Any]
    area_fraction: tuple[float, float, float, float] | None = None  # ("percentage", h, w, y, x) before resolving
    mask: torch.Tensor | None = None  # [batch, height, width]
    mask_strength: float = 1.0
    area_from_mask: bool = False  # ConditioningSetMask's "mask bounds"
    control: Any = None  # a ControlNet's or T2I-Adapter's control object (cfg.py calls it each step)
    control_to_uncond: bool = False  # ControlNetApply's: the negative prompt gets this control too

    def time_ids(self, image_width: int, image_height: int) -> torch.Tensor:
        """SDXL's [original h, w, crop top, left, target h, w]; unset sizes are the image's own (ComfyUI's rule)."""
        width = self.options.get("width", image_width)
        height = self.options.get("height", image_height)
        values = (height, width, self.options.get("crop_h", 0), self.options.get("crop_w", 0),
                  self.options.get("target_height", height), self.options.get("target_width", width))
        return torch.tensor([values], dtype=torch.float32)

    def region(self, latent_height: int, latent_width: int) -> Area:
        """(h, w, y, x) clipped to the latent; the whole latent when no area was set."""
        if self.area is None:
            return latent_height, latent_width, 0, 0
        h, w, y, x = self.area
        y, x = min(y, latent_height - 1), min(x, latent_width - 1)
        return max(1, min(h, latent_height - y)), max(1, min(w, latent_width - x)), y, x

    def saying(self, other: "CondEntry") -> "CondEntry":
        """This entry's place, weight and time with `other`'s text: the partner that ComfyUI gives an area entry in
        the opposite prompt, so that guidance compares like with like there."""
        return dataclasses.replace(self, context=other.context, pooled=other.pooled, options=other.options,
                                   control=other.control)


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
        entries.append(_read_entry(*item, f"{name}: conditioning entry {index}"))
    return entries


def _read_entry(context: torch.Tensor, options: dict, where: str) -> CondEntry:
    if context.ndim == 2:
        context = context.unsqueeze(0)
    if context.ndim != 3:
        raise InvalidNodeInput(f"{where} has shape {tuple(context.shape)}; expected [batch, tokens, width]")
    area, fraction = _read_area(options.get("area"), where)
    return CondEntry(context=context, pooled=options.get("pooled_output"), area=area, area_fraction=fraction,
                     strength=float(options.get("strength", 1.0)),
                     start_percent=float(options.get("start_percent", 0.0)),
                     end_percent=float(options.get("end_percent", 1.0)),
                     mask=_read_mask(options.get("mask"), where),
                     mask_strength=float(options.get("mask_strength", 1.0)),
                     area_from_mask=bool(options.get("set_area_to_bounds", False)),
                     control=options.get("control"),
                     control_to_uncond=bool(options.get("control_apply_to_uncond", False)),
                     options={k: options[k] for k in (*SIZE_KEYS, *CONCAT_KEYS, *IMAGE_EMBEDDING_KEYS, "gligen")
                              if k in options})


def with_mirrored_controls(positive: list[CondEntry], negative: list[CondEntry]) -> list[CondEntry]:
    """The negative entries, given the controls that ControlNetApply put on whole-image positive entries when no
    whole-image negative entry has a control of its own (ComfyUI's apply_empty_x_to_equal_area): the i-th such
    control goes to the (i mod n)-th whole-image negative entry."""
    controls = [entry.control for entry in positive
                if entry.control_to_uncond and entry.area is None and entry.control is not None]
    whole = [index for index, entry in enumerate(negative) if entry.area is None]
    if not controls or not whole or any(negative[index].control is not None for index in whole):
        return negative
    mirrored = list(negative)
    for number, control in enumerate(controls):
        index = whole[number % len(whole)]
        mirrored[index] = dataclasses.replace(negative[index], control=control)
    return mirrored


def _read_area(area: Any, where: str) -> tuple[Area | None, tuple[float, float, float, float] | None]:
    if area is None:
        return None, None
    if isinstance(area, (list, tuple)) and len(area) == 5 and area[0] == "percentage":
        return None, tuple(float(v) for v in area[1:])
    if isinstance(area, (list, tuple)) and len(area) == 4 and all(isinstance(v, (int, float)) for v in area):
        return tuple(int(v) for v in area), None
    raise InvalidNodeInput(f"{where} has an area {area!r}; only rectangles (height, width, y, x) in latent pixels "
                           f"or ('percentage', height, width, y, x) are supported")


def _read_mask(mask: Any, where: str) -> torch.Tensor | None:
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        raise InvalidNodeInput(f"{where} has a mask that is not a [batch, height, width] tensor")
    return (mask.unsqueeze(0) if mask.ndim == 2 else mask).float()
