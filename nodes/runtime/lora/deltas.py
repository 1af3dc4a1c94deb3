"""Weight deltas of LoRA / LoCon / LoHa / LoKr / DoRA patches, and patching modules with exact restore.

All maths runs in float32 whatever the model's dtype (a float16 rank-r product loses the small update), and the sum
is stored in the weight's own dtype as a new parameter; the original tensor is never written (it may be
memory-mapped from the file, or shared), and `restore` puts the original back: re-subtracting a delta in float16
would not give the same bits.

Formulas (s = alpha / rank, or 1 when the file has no alpha; `strength` is applied by `apply_patches`):

* lora:  delta = s * up @ down, flattened to 2D and reshaped to the weight (linear, 1x1 conv, LoCon 3x3 where
  down is [r, in, kh, kw] and up [out, r, 1, 1]); with `mid` (CP/Tucker LoCon, mid [r, r, kh, kw]):
  delta[o,i,h,w] = s * sum_ab up[o,a] mid[a,b,h,w] down[b,i].
* loha:  delta = s * (w1_a @ w1_b) * (w2_a @ w2_b) (element-wise product of two low-rank matrices); with Tucker
  cores t1/t2 each factor is sum_ab t[a,b,h,w] a[a,o] b[b,i].
* lokr:  delta = s * kron(w1, w2), each of w1/w2 given full or as a @ b (w2 optionally with a Tucker core t2);
  s = alpha / rank only when a factor is low-rank, 1 when both are full (there is no rank to divide by).
* diff:  delta = diff, the full difference; a `bias_diff` (`.diff_b`) is added to the layer's bias the same way.
* DoRA (`dora_scale` m, per output channel, or per input channel in older LyCORIS files):
  W_dora = m * (W + delta) / ||W + delta||, the norm taken over every dimension but the channel dimension of m;
  the returned delta is W_dora - W, so strength 1 gives the DoRA merge exactly and strength 0 leaves W unchanged.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .key_map import Target, lookup, module_weight
from .lora_file import LoraFile, LoraPatch

logger = logging.getLogger(__name__)
SHOWN = 5  # unmatched keys named in messages


def weight_delta(patch: LoraPatch, weight_shape: Sequence[int] | torch.Size, weight: torch.Tensor | None = None,
                 strength: float = 1.0, device: torch.device | str = "cpu",
                 out: torch.Tensor | None = None) -> torch.Tensor:
    """The float32 update a patch makes to a weight of `weight_shape` at `strength` (`weight` is needed for DoRA),
    computed on `device`. The returned tensor is always freshly allocated, so callers may modify it in place.

    The scale (alpha/rank times strength) multiplies the smallest factor before the product, so a full-size
    weight is written once, by the product itself; DoRA's strength applies to its renormalised difference. A plain
    LoRA's product can be written into `out` (a float32 buffer of the weight's shape from an earlier application):
    reusing memory avoids the page faults that dominate patching time on a CPU."""
    shape = torch.Size(weight_shape)
    t = {role: tensor.to(device=device, dtype=torch.float32) for role, tensor in patch.tensors.items()}
    dora = patch.dora_scale is not None
    factor = _scale(patch) * (1.0 if dora else float(strength))
    if factor != 1.0:
        small = next(role for role in ("up", "w1_a", "w1", "diff") if role in t)
        t[small] = t[small] * factor  # a new tensor: t may hold the file's own tensors
    if patch.kind == "lora":
        delta = _lora(t, out if not dora else None)
    elif patch.kind == "loha":
        delta = _factor(t, "w1", "t1") * _factor(t, "w2", "t2")
    elif patch.kind == "lokr":
        delta = _lokr(t, len(shape))
    elif patch.kind == "diff":
        delta = t["diff"]
    else:
        raise ValueError(f"unknown patch kind {patch.kind!r}")
    if delta.numel() != shape.numel():
        raise ValueError(f"{patch.key}: the patch makes a {tuple(delta.shape)} update but the layer's weight is "
                         f"{tuple(shape)}; the LoRA is for a different model")
    delta = delta.reshape(shape)
    if dora:
        if weight is None:
            raise ValueError(f"{patch.key}: a DoRA patch needs the current weight")
        delta = _dora(weight.float(), delta, patch.dora_scale.to(device=device, dtype=torch.float32))
        if strength != 1.0:
            delta.mul_(float(strength))
    elif delta.data_ptr() in {tensor.data_ptr() for tensor in t.values()}:
        delta = delta.clone()  # a full factor used as is (LoKr/LoHa with one full matrix): never hand it out
    return delta


def _scale(patch: LoraPatch) -> float:
    rank = patch.rank
    if patch.alpha is None or rank is None:
        return 1.0
    return patch.alpha / rank


def _lora(t: dict[str, torch.Tensor], out: torch.Tensor | None = None) -> torch.Tensor:
    up, down = t["up"].flatten(1), t["down"]
    if "mid" in t:
        return torch.einsum("abhw,oa,bi->oihw", t["mid"], up, down.flatten(1))
    down = down.flatten(1)
    if out is not None and out.dtype == torch.float32 and out.numel() == up.shape[0] * down.shape[1] \
            and out.device == up.device and out.is_contiguous():
        return torch.matmul(up, down, out=out.view(up.shape[0], down.shape[1]))
    return up @ down


def _factor(t: dict[str, torch.Tensor], name: str, core: str) -> torch.Tensor:
    """A full matrix `name`, or a @ b, or with a Tucker core: sum_ab core[a,b,h,w] a[a,o] b[b,i]."""
    if name in t:
        return t[name]
    a, b = t[f"{name}_a"], t[f"{name}_b"]
    if core in t:
        return torch.einsum("abhw,ao,bi->oihw", t[core], a.flatten(1), b.flatten(1))
    return a.flatten(1) @ b.flatten(1)


def _lokr(t: dict[str, torch.Tensor], dims: int) -> torch.Tensor:
    w1, w2 = _factor(t, "w1", "t1"), _factor(t, "w2", "t2")
    if dims == 4 and w2.dim() == 2:
        # a conv weight with a 2D right factor: kernel dims were flattened into its columns by the trainer; the
        # caller's reshape restores them, so only the kron of the matrices is needed
        return torch.kron(w1.flatten(1), w2)
    while w1.dim() < w2.dim():
        w1 = w1.unsqueeze(-1)
    return torch.kron(w1, w2)


def _dora(weight: torch.Tensor, delta: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    merged = weight + delta
    # an input-channel scale is stored [1, in, ...]: on a square layer only its shape tells it from [out, 1, ...]
    input_shaped = magnitude.dim() > 1 and magnitude.shape[0] == 1 < weight.shape[0]
    if magnitude.numel() == weight.shape[0] and not input_shaped:
        channel = 0
    elif weight.dim() > 1 and magnitude.numel() == weight.shape[1]:
        channel = 1
    else:
        raise ValueError(f"dora_scale of {tuple(magnitude.shape)} fits neither the output nor the input channels "
                         f"of a {tuple(weight.shape)} weight")
    dims = [d for d in range(weight.dim()) if d != channel]
    norm = merged.norm(dim=dims, keepdim=True)
    shape = [1] * weight.dim()
    shape[channel] = -1
    return magnitude.reshape(shape) * merged / norm - weight


# ---------------------------------------------------------------- patching modules

@dataclass
class AppliedPatches:
    """What `apply_patches` did: the original weights (for `restore`), and what the file targeted but did not hit."""

    originals: dict[Target, torch.Tensor] = field(default_factory=dict)
    patched: dict[Target, torch.Tensor] = field(default_factory=dict)  # the new weights, reusable as buffers
    applied: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # matched a layer whose weight has another shape
    family: str | None = None
    hooks: list = field(default_factory=list)  # forward hooks that add a patch's output (bypass.py), removed too

    @property
    def changed_weights(self) -> list[Target]:
        return list(self.originals)

    def message(self) -> str:
        """A one-line summary for the user; mentions unmatched and mismatched keys with a few names."""
        parts = [f"{len(self.applied)} LoRA layers applied to {len(self.originals)} weights"]
        for label, keys in (("matched no layer of this model", self.unmatched),
                            ("did not fit their layer's shape", self.mismatched)):
            if keys:
                parts.append(f"{len(keys)} keys {label} (e.g. {', '.join(keys[:SHOWN])})")
        if (self.unmatched or self.mismatched) and self.family:
            parts.append(f"the file is a LoRA for {self.family}")
        return "; ".join(parts)


PatchList = Sequence[tuple[LoraPatch, float]]


def patches_with_strength(lora: LoraFile, strength: float) -> list[tuple[LoraPatch, float]]:
    """Every patch of a file at one strength (callers wanting separate UNet / text strengths build the list)."""
    return [(patch, strength) for patch in lora.patches.values()]


@torch.no_grad()
def apply_patches(components: Mapping[str, nn.Module], patches: PatchList, key_map: Mapping[str, Target],
                  family: str | None = None, buffers: dict[Target, torch.Tensor] | None = None) -> AppliedPatches:
    """Add strength * delta to each targeted weight (float32 sum, stored in the weight's dtype), in place.

    `components` is `key_map.model_components(...)`. Several patches on one weight are summed before storing (DoRA
    deltas are computed on the weight as it was before this call). Keys that match no layer, or a layer of another
    shape, are skipped and reported, not raised: a LoRA often carries a few layers a model lacks. `buffers`
    (for example the `patched` tensors of an application since restored) are written into instead of new memory.
    """
    result = AppliedPatches(family=family)
    totals: dict[Target, torch.Tensor] = {}
    for patch, strength in patches:
        target = lookup(key_map, patch.key)
        if target is None or target.component not in components:
            result.unmatched.append(patch.key)
            continue
        weight = module_weight(components, target)
        try:
            out = buffers.pop(target, None) if buffers and target not in totals else None
            delta = weight_delta(patch, weight.shape, weight.detach() if patch.dora_scale is not None else None,
                                 strength, weight.device, out=out)
        except ValueError as error:
            logger.debug("skipping %s: %s", patch.key, error)
            result.mismatched.append(patch.key)
            continue
        totals[target] = totals[target].add_(delta) if target in totals else delta
        result.applied.append(patch.key)
        _add_bias_diff(components, target, patch, strength, totals)
    for target, delta in totals.items():
        layer = components[target.component].get_submodule(target.module_name)
        original = getattr(layer, target.param)
        result.originals[target] = original
        # A new parameter instead of writing in place: the original may be memory-mapped from the file (read-only)
        # or shared with another view of the same base model, and keeping it untouched makes restore exact.
        summed = delta.add_(original.detach().to(torch.float32))  # into the delta's own buffer
        setattr(layer, target.param, nn.Parameter(summed.to(original.dtype), requires_grad=False))
        result.patched[target] = getattr(layer, target.param).data
    if result.unmatched or result.mismatched:
        logger.debug("LoRA: %s", result.message())
    return result


def _add_bias_diff(components: Mapping[str, nn.Module], target: Target, patch: LoraPatch, strength: float,
                   totals: dict[Target, torch.Tensor]) -> None:
    """Add strength * the patch's bias difference to the layer's bias total (a layer without a bias is skipped)."""
    if patch.bias_diff is None or not strength:
        return
    bias = getattr(components[target.component].get_submodule(target.module_name), "bias", None)
    if bias is None or bias.shape != patch.bias_diff.shape:
        logger.debug("skipping the bias difference of %s: the layer's bias does not fit it", patch.key)
        return
    bias_target = Target(target.component, target.module_name, "bias")
    delta = patch.bias_diff.to(device=bias.device, dtype=torch.float32) * float(strength)
    totals[bias_target] = totals[bias_target].add_(delta) if bias_target in totals else delta


@torch.no_grad()
def restore(components: Mapping[str, nn.Module], applied: AppliedPatches) -> None:
    """Put back the very weight tensors `apply_patches` replaced (and remove its forward hooks). Restore stacked
    applications in reverse order."""
    for handle in applied.hooks:
        handle.remove()
    for target, original in applied.originals.items():
        layer = components[target.component].get_submodule(target.module_name)
        current = getattr(layer, target.param)
        if original.device != current.device:  # the model was moved while patched; follow it
            original.data = original.data.to(current.device)
        setattr(layer, target.param, original)
