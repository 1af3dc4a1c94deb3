"""Where each conditioning entry acts on a latent of a given size, and how much it weighs there.

Resolved once per latent shape when sampling starts, as ComfyUI does: a fractional area becomes latent pixels, a
mask is scaled (bilinear) to the latent and, for "mask bounds", gives the area its bounding box; then every entry with
an area gets a partner over the same area in the opposite prompt (so cond and uncond are compared like with like).
An entry's weight is its strength times its mask; a rectangle without a mask fades in over up to 8 latent pixels
(a quarter of its side at most) along each edge that lies inside the latent.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from graph_engine import InvalidNodeInput

from .conditioning import Area, CondEntry

FEATHER = 8  # latent pixels over which an area's edge fades in
MIN_BOUNDS = 8  # the smallest side of an area taken from a mask's bounds


@dataclass(frozen=True)
class PlacedEntry:
    """An entry on a latent of a known shape: its group (0 positive, 1 negative), crop and weight."""

    group: int
    entry: CondEntry
    region: Area  # (h, w, y, x) clipped to the latent
    weight: torch.Tensor  # [1 or batch, 1, h, w]
    sigma_start: float  # the entry applies while sigma_end <= sigma <= sigma_start
    sigma_end: float

    @property
    def whole(self) -> bool:
        """Over the whole latent with one weight everywhere."""
        return self.entry.area is None and self.entry.mask is None

    def active(self, sigma: float) -> bool:
        return self.sigma_end <= sigma <= self.sigma_start

    @property
    def always_active(self) -> bool:
        """Active at every sigma (start 0 %, end 100 %: no timestep range), so sampling need not read sigma."""
        return self.entry.start_percent <= 0.0 and self.entry.end_percent >= 1.0


def place_entries(groups: Sequence[Sequence[CondEntry]], latent: torch.Tensor,
                  percent_to_sigma: Callable[[float], float]) -> list[PlacedEntry]:
    """Every entry of `groups` placed on `latent` ([batch, channels, height, width]), partners included."""
    height, width = latent.shape[-2:]
    resolved = [[_resolve(entry, height, width, latent.device) for entry in group] for group in groups]
    for index, group in enumerate(resolved):
        for entry in group:
            for other_index, other in enumerate(resolved):
                if other_index != index:
                    _add_partner(other, entry)
    placed = []
    for index, group in enumerate(resolved):
        for entry in group:
            region = entry.region(height, width)
            placed.append(PlacedEntry(index, entry, region, _weight(entry, region, latent),
                                      percent_to_sigma(entry.start_percent), percent_to_sigma(entry.end_percent)))
    return placed


def _resolve(entry: CondEntry, height: int, width: int, device: torch.device) -> CondEntry:
    """The entry with its area in latent pixels and its mask at the latent's size."""
    if entry.area_fraction is not None:
        h, w, y, x = entry.area_fraction
        entry = dataclasses.replace(entry, area=(max(1, round(h * height)), max(1, round(w * width)),
                                                 round(y * height), round(x * width)), area_fraction=None)
    if entry.mask is None:
        return entry
    mask = entry.mask.to(device)
    if mask.shape[-2:] != (height, width):
        mask = F.interpolate(mask.unsqueeze(1), size=(height, width), mode="bilinear").squeeze(1)
    entry = dataclasses.replace(entry, mask=mask)
    if entry.area_from_mask:
        entry = dataclasses.replace(entry, area=_mask_bounds(mask))
    return entry


def _mask_bounds(mask: torch.Tensor) -> Area:
    """The bounding box of the mask's nonzero pixels over all its batch, at least MIN_BOUNDS on a side."""
    rows, columns = torch.where(mask.abs().amax(dim=0) != 0)
    if rows.numel() == 0:
        return MIN_BOUNDS, MIN_BOUNDS, 0, 0  # an empty mask weighs nothing anywhere; keep its work small
    top, left = int(rows.min()), int(columns.min())
    return (max(MIN_BOUNDS, int(rows.max()) - top + 1), max(MIN_BOUNDS, int(columns.max()) - left + 1), top, left)


def _add_partner(group: list[CondEntry], entry: CondEntry) -> None:
    """Give `group` an entry over `entry`'s area, with the text of the smallest of its entries around that area
    (an entry without an area counts as around everything, after any that has one); none when one already has
    exactly that area."""
    if entry.area is None:
        return
    around = None
    for candidate in group:
        if candidate.area is None:
            if around is None:
                around = candidate
        elif _inside(entry.area, candidate.area) and (around is None or around.area is None
                                                      or math.prod(candidate.area[:2]) < math.prod(around.area[:2])):
            around = candidate
    if around is None or around.area == entry.area:
        return
    group.append(entry.saying(around))


def _inside(area: Area, outer: Area) -> bool:
    h, w, y, x = area
    outer_h, outer_w, outer_y, outer_x = outer
    return y >= outer_y and x >= outer_x and y + h <= outer_y + outer_h and x + w <= outer_x + outer_w


def _weight(entry: CondEntry, region: Area, latent: torch.Tensor) -> torch.Tensor:
    """The entry's strength times its mask over `region`; a rectangle without a mask fades in at inner edges."""
    h, w, y, x = region
    if entry.mask is not None:
        mask = entry.mask[:, y:y + h, x:x + w] * entry.mask_strength
        return _per_sample(mask, latent.shape[0]).unsqueeze(1).to(latent.dtype) * entry.strength
    weight = torch.full((1, 1, h, w), entry.strength, dtype=latent.dtype, device=latent.device)
    if entry.area is None:
        return weight
    height, width = latent.shape[-2:]
    for axis, size, start, full in ((2, h, y, height), (3, w, x, width)):
        fade = min(FEATHER, size // 4)
        if fade == 0:
            continue
        ramp = torch.arange(1, fade + 1, dtype=latent.dtype, device=latent.device) / fade
        shape = [1, 1, 1, 1]
        shape[axis] = fade
        if start != 0:
            weight.narrow(axis, 0, fade).mul_(ramp.view(shape))
        if start + size < full:
            weight.narrow(axis, size - fade, fade).mul_(ramp.flip(0).view(shape))
    return weight


def _per_sample(mask: torch.Tensor, batch: int) -> torch.Tensor:
    """A mask batch matched to the latent's: cut to it, or repeated when it divides it (ComfyUI's rule)."""
    mask = mask[:batch]
    if batch % mask.shape[0]:
        raise InvalidNodeInput(f"a conditioning mask has a batch of {mask.shape[0]}, which does not divide the "
                               f"latent's batch of {batch}; give one mask, or one per latent")
    return mask.repeat(batch // mask.shape[0], 1, 1)
