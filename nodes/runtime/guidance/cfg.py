"""Classifier-free guidance over ComfyUI conditioning: every entry predicted in one UNet batch, then mixed.

x0 = uncond + (cond - uncond) * cfg, where cond (and uncond) is the strength-weighted mean of its entries'
predictions over the regions they cover (ConditioningSetArea). With cfg = 1 the negative prompt cannot change the
result, so it is not computed, as in ComfyUI.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from graph_engine import InvalidNodeInput

from ..models.diffusion_model import DiffusionModel
from .conditioning import CondEntry

FEATHER = 8  # latent pixels over which an area's edge fades in, where it does not touch the latent's border
MAX_REPEAT = 4  # contexts of different lengths batch together by repetition when the common length stays small


@dataclass(frozen=True)
class _Item:
    group: int  # 0: positive, 1: negative
    entry: CondEntry
    region: tuple[int, int, int, int]  # h, w, y, x


class GuidedDenoiser:
    """D(x, sigma) with classifier-free guidance, for the samplers."""

    def __init__(self, model: DiffusionModel, positive: list[CondEntry], negative: list[CondEntry],
                 cfg: float) -> None:
        self.model = model
        self.denoise = model.denoiser()
        self.groups = (positive, negative)
        self.cfg = float(cfg)
        self.skip_uncond = math.isclose(self.cfg, 1.0)
        schedule = model.schedule
        self._batch_inputs: dict[tuple, dict[str, torch.Tensor]] = {}
        self._ranges = {id(entry): (schedule.percent_to_sigma(entry.start_percent),
                                    schedule.percent_to_sigma(entry.end_percent))
                        for group in self.groups for entry in group}

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, **kwargs) -> torch.Tensor:
        groups = 1 if self.skip_uncond else 2
        mixed = self.predict_groups(x, sigma, groups)
        if self.skip_uncond:
            return mixed[0]
        cond, uncond = mixed
        return uncond + (cond - uncond) * self.cfg

    def predict_groups(self, x: torch.Tensor, sigma: torch.Tensor, groups: int) -> list[torch.Tensor]:
        """Each group's mixed x0 prediction, all entries computed in as few UNet calls as shapes allow."""
        height, width = x.shape[-2:]
        level = float(sigma.reshape(-1)[0])
        items = [_Item(g, entry, entry.region(height, width))
                 for g in range(groups) for entry in self.groups[g] if self._active(entry, level)]
        batches = _batches(items)
        if sorted(item.group for item in items) == list(range(groups)) and all(i.entry.area is None for i in items):
            # The usual case, one whole-image entry per group: its prediction is the group's (0 at strength 0).
            predictions = [p for batch in batches for p in self._predict(x, sigma, batch)]
            by_group = {item.group: p if item.entry.strength else torch.zeros_like(p)
                        for item, p in zip([i for batch in batches for i in batch], predictions)}
            return [by_group[g] for g in range(groups)]
        totals = [torch.zeros_like(x) for _ in range(groups)]
        counts = [torch.full_like(x, 1e-37) for _ in range(groups)]
        for batch in batches:
            predictions = self._predict(x, sigma, batch)
            for item, prediction in zip(batch, predictions):
                h, w, top, left = item.region
                weight = _area_weight(item, height, width, x)
                totals[item.group][:, :, top:top + h, left:left + w] += prediction * weight
                counts[item.group][:, :, top:top + h, left:left + w] += weight
        return [total / count for total, count in zip(totals, counts)]

    def _active(self, entry: CondEntry, level: float) -> bool:
        start, end = self._ranges[id(entry)]
        return end <= level <= start

    def _predict(self, x: torch.Tensor, sigma: torch.Tensor, batch: list[_Item]) -> list[torch.Tensor]:
        size = x.shape[0]
        crops = [x[:, :, top:top + h, left:left + w] for h, w, top, left in (item.region for item in batch)]
        out = self.denoise(torch.cat(crops), sigma.repeat(len(batch)), **self._conditioning(x, batch))
        return list(out.split(size))

    def _conditioning(self, x: torch.Tensor, batch: list[_Item]) -> dict[str, torch.Tensor]:
        """The UNet's conditioning inputs for a batch; the same every step, so built once per batch."""
        key = (tuple(id(item.entry) for item in batch), tuple(x.shape), x.device)
        if key not in self._batch_inputs:
            size = x.shape[0]
            length = math.lcm(*(item.entry.context.shape[1] for item in batch))
            contexts = [item.entry.context.repeat(1, length // item.entry.context.shape[1], 1).expand(size, -1, -1)
                        for item in batch]
            inputs = {"context": torch.cat([c.to(x.device) for c in contexts])}
            if self.model.uses_size_conditioning:
                image_height, image_width = x.shape[-2] * 8, x.shape[-1] * 8
                inputs["pooled"] = torch.cat([_pooled(item.entry).to(x.device).expand(size, -1) for item in batch])
                inputs["time_ids"] = torch.cat([item.entry.time_ids(image_width, image_height).to(x.device)
                                                .expand(size, -1) for item in batch])
            self._batch_inputs[key] = inputs
        return self._batch_inputs[key]


def _pooled(entry: CondEntry) -> torch.Tensor:
    if entry.pooled is None:
        raise InvalidNodeInput("SDXL conditioning needs a pooled text embedding; this conditioning has none (was "
                               "it made by another model's CLIP?)")
    return entry.pooled.reshape(1, -1)


def _batches(items: list[_Item]) -> list[list[_Item]]:
    """Items whose crops have one shape and whose context lengths repeat to a small common length run together."""
    batches: list[list[_Item]] = []
    for item in items:
        for batch in batches:
            if batch[0].region[:2] != item.region[:2] or batch[0].entry.context.shape[2] != item.entry.context.shape[2]:
                continue
            lengths = [other.entry.context.shape[1] for other in batch] + [item.entry.context.shape[1]]
            if math.lcm(*lengths) <= MAX_REPEAT * max(lengths):
                batch.append(item)
                break
        else:
            batches.append([item])
    return batches


def _area_weight(item: _Item, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """The entry's strength over its region, fading in over FEATHER pixels at edges inside the latent."""
    h, w, y, x = item.region
    weight = torch.full((1, 1, h, w), item.entry.strength, dtype=like.dtype, device=like.device)
    if item.entry.area is None:
        return weight
    ramp = torch.arange(1, FEATHER + 1, dtype=like.dtype, device=like.device) / FEATHER
    n = min(FEATHER, h)
    if y != 0:
        weight[:, :, :n] *= ramp[:n].view(-1, 1)
    if y + h < height:
        weight[:, :, h - n:] *= ramp[:n].flip(0).view(-1, 1)
    n = min(FEATHER, w)
    if x != 0:
        weight[:, :, :, :n] *= ramp[:n]
    if x + w < width:
        weight[:, :, :, w - n:] *= ramp[:n].flip(0)
    return weight
