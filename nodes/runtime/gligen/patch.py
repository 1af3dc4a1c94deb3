"""GLIGEN at sampling time: a conditioning entry's "gligen" value, ("position", Gligen, [(phrase, h, w, y, x), ...])
with boxes in latent pixels (GLIGENTextBoxApply), becomes the transformer blocks' "middle_patch": each block's
fuser reads the grounding tokens the position net makes from the boxes, normalised by the latent being predicted.

As ComfyUI does, the negative prompt's entries without an area take the positive's grounding when none of them has
its own, and every UNet call builds its patch anew; chunks of one batch from different entries each get their own
grounding (or none), so entries need not run apart.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import torch

from graph_engine import InvalidNodeInput

from .layout import MAX_OBJECTS
from .loader import Gligen

Placement = tuple[int, int, int, int]  # (height, width, top, left) of the latent an entry predicts


def grounding_tokens(gligen: Gligen, boxes: Sequence[tuple], latent_height: int, latent_width: int) -> torch.Tensor:
    """[1, 30, grounding width] from (phrase [1, P], h, w, y, x) boxes in latent pixels; empty slots are null."""
    if len(boxes) > MAX_OBJECTS:
        raise InvalidNodeInput(f"the conditioning holds {len(boxes)} GLIGEN boxes; a GLIGEN model reads at most "
                               f"{MAX_OBJECTS}")
    network = gligen.network
    parameter = network.position_net.null_positive_feature
    device, dtype = parameter.device, parameter.dtype
    corners = torch.zeros(MAX_OBJECTS, 4, dtype=dtype, device=device)
    phrases = torch.zeros(MAX_OBJECTS, gligen.phrase_width, dtype=dtype, device=device)
    present = torch.zeros(MAX_OBJECTS, dtype=dtype, device=device)
    for slot, (phrase, height, width, top, left) in enumerate(boxes):
        corners[slot] = torch.tensor([left / latent_width, top / latent_height, (left + width) / latent_width,
                                      (top + height) / latent_height], dtype=dtype)
        phrases[slot] = phrase.reshape(-1).to(device, dtype)
        present[slot] = 1.0
    with torch.no_grad():
        return network.position_net(corners[None], present[None], phrases[None])


def fuse(gligen: Gligen, tokens: torch.Tensor, grounding: torch.Tensor, index: int) -> torch.Tensor:
    """The fuser of transformer `index` on image tokens [batch, n, width], in the network's dtype and device."""
    fusers = gligen.network.fusers
    if index >= len(fusers) or fusers[index].norm1.normalized_shape[0] != tokens.shape[-1]:
        raise InvalidNodeInput(f"the GLIGEN model {gligen.source} does not fit this UNet (its transformer block "
                               f"{index} is {tokens.shape[-1]} wide); use the GLIGEN model made for this checkpoint's "
                               f"family (GLIGEN models are SD1.x)")
    parameter = gligen.network.position_net.null_positive_feature
    with torch.no_grad():
        out = fusers[index](tokens.to(parameter.device, parameter.dtype), grounding.to(parameter.dtype))
    return out.to(tokens.device, tokens.dtype)


def grounding_by_entry(groups: Sequence[Sequence[Any]]) -> dict[int, tuple]:
    """id(entry) -> its "gligen" value, the negative's entries without an area given the positive's (ComfyUI's
    rule: unless a negative entry has its own, the k-th positive grounding goes to the (k mod n)-th negative entry
    without an area, a later one replacing an earlier)."""
    found = {id(entry): entry.options["gligen"] for group in groups for entry in group if "gligen" in entry.options}
    if len(groups) < 2:
        return found
    positive = [entry.options["gligen"] for entry in groups[0] if not _has_area(entry) and "gligen" in entry.options]
    negative = [entry for entry in groups[1] if not _has_area(entry)]
    if any("gligen" in entry.options for entry in negative) or not negative:
        return found
    for number, grounding in enumerate(positive):
        found[id(negative[number % len(negative)])] = grounding
    return found


def middle_patches(entries: Sequence[Any], placements: Sequence[Placement], chunk: int,
                   groups: Sequence[Sequence[Any]]) -> dict[str, list[Callable]] | None:
    """{"middle_patch": [patch]} for one UNet batch of `entries` (each `chunk` rows predicting the latent region in
    `placements`), None when none of them is grounded."""
    grounded = grounding_by_entry(groups)
    per_model: dict[int, tuple[Gligen, list[int], list[torch.Tensor]]] = {}
    for number, (entry, (height, width, _, _)) in enumerate(zip(entries, placements)):
        value = grounded.get(id(entry))
        if value is None:
            continue
        if not (isinstance(value, (tuple, list)) and len(value) == 3 and isinstance(value[1], Gligen)):
            raise InvalidNodeInput("a conditioning entry's 'gligen' option must be (\"position\", GLIGEN model, boxes) "
                                   "as Apply GLIGEN Text Box (GLIGENTextBoxApply) makes it, with a model from Load "
                                   "GLIGEN Model (GLIGENLoader)")
        kind, gligen, boxes = value
        tokens = grounding_tokens(gligen, boxes if kind == "position" else (), height, width)
        _, rows, groundings = per_model.setdefault(id(gligen), (gligen, [], []))
        rows.extend(range(number * chunk, (number + 1) * chunk))
        groundings.append(tokens.expand(chunk, -1, -1))
    if not per_model:
        return None
    from ..devices import model_manager

    model_manager().use(*(gligen.network for gligen, _, _ in per_model.values()))
    total = len(entries) * chunk
    fusing = [(gligen, None if len(rows) == total else torch.tensor(rows), torch.cat(groundings))
              for gligen, rows, groundings in per_model.values()]

    def middle_patch(tokens: torch.Tensor, extra_options: dict) -> torch.Tensor:
        index = extra_options["transformer_index"]
        for gligen, rows, grounding in fusing:
            if rows is None:
                return fuse(gligen, tokens, grounding, index)
            tokens = tokens.clone()
            tokens[rows.to(tokens.device)] = fuse(gligen, tokens[rows.to(tokens.device)], grounding, index)
        return tokens

    return {"middle_patch": [middle_patch]}


def with_grounding(options: dict, batch: Sequence[Any], chunk: int, groups: Sequence[Sequence[Any]]) -> dict:
    """A UNet call's transformer options with its GLIGEN middle patch after the model's own (ComfyUI's order); the
    options themselves when no entry of the batch (guidance.regions.PlacedEntry items) is grounded."""
    found = middle_patches([item.entry for item in batch], [item.region for item in batch], chunk, groups)
    if found is None:
        return options
    patches = dict(options.get("patches", {}))
    patches["middle_patch"] = [*patches.get("middle_patch", ()), *found["middle_patch"]]
    return {**options, "patches": patches}


def _has_area(entry: Any) -> bool:
    return entry.area is not None or entry.area_fraction is not None or entry.area_from_mask
