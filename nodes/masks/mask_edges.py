"""Growing, shrinking and feathering a mask's edges (the maths of GrowMask and FeatherMask)."""
from __future__ import annotations

from typing import Any

from .batches import mask_batch


def grow_mask(mask: Any, expand: int, tapered_corners: bool) -> Any:
    """Each mask of the batch grown (expand > 0: grey dilation) or shrunk (expand < 0: grey erosion) by |expand|
    pixels, as that many steps of a 3x3 filter: a cross with tapered corners, else the full square.

    n steps of the square reach a (2n+1)-square window, computed in one pass; n steps of the cross reach a diamond,
    kept as steps (cheaper than the diamond footprint). Windows stop at the mask's edges, as the steps' do.
    """
    import numpy as np
    import scipy.ndimage
    import torch

    masks = mask_batch(mask).detach().float().cpu()
    height, width = masks.shape[-2:]
    grow = expand > 0
    grown = []
    for single in masks.numpy():
        if tapered_corners:
            cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
            step = scipy.ndimage.grey_dilation if grow else scipy.ndimage.grey_erosion
            for _ in range(min(abs(expand), height + width - 2)):  # after that the whole mask is one value
                single = step(single, footprint=cross)
        elif expand:
            window = 2 * min(abs(expand), max(height, width)) + 1
            extreme = scipy.ndimage.maximum_filter if grow else scipy.ndimage.minimum_filter
            single = extreme(single, size=window, mode="nearest")
        grown.append(torch.from_numpy(np.ascontiguousarray(single)))
    return torch.stack(grown)


def _ramps(size: int, start: int, end: int) -> tuple[Any, Any]:
    """Weights along one axis: one rising linearly to 1 over the first `start` pixels, one falling from 1 over the
    last `end` (float32, computed in float64 as ComfyUI's Python floats are)."""
    import torch

    rising = torch.ones(size, dtype=torch.float64)
    falling = torch.ones(size, dtype=torch.float64)
    rising[:start] = torch.arange(1, start + 1, dtype=torch.float64) / max(start, 1)
    falling[size - end:] = torch.arange(end, 0, -1, dtype=torch.float64) / max(end, 1)
    return rising.float(), falling.float()


def feather_mask(mask: Any, left: int, top: int, right: int, bottom: int) -> Any:
    """The mask faded to 0 towards each edge over that edge's number of pixels (at most the mask's size)."""
    masks = mask_batch(mask)
    height, width = masks.shape[-2:]
    from_left, from_right = _ramps(width, min(left, width), min(right, width))
    from_top, from_bottom = _ramps(height, min(top, height), min(bottom, height))
    device = masks.device
    # one factor at a time, in ComfyUI's order, so each value is rounded as there
    out = masks * from_left.to(device) * from_right.to(device)
    return out * from_top.to(device)[:, None] * from_bottom.to(device)[:, None]
