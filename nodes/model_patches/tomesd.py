"""ComfyUI's comfy_extras.nodes_tomesd: token merging (ToMe for Stable Diffusion). At the latent's full size, the
self-attention queries most like another token are averaged into it before attention and copied back after it,
so the attention has fewer queries to compute."""
from __future__ import annotations

import math
from typing import Any, Callable

from .unet_patch_node import UNetPatchNode

PYTHON_MODULE = "comfy_extras.nodes_tomesd"
STRIDE = 2  # each 2x2 cell of the token grid keeps one destination token


def _unchanged(x: Any) -> Any:
    return x


def _destination_order(rows: int, cols: int, device: Any) -> Any:
    """Token indices, destinations first: one token drawn (torch's generator) in each whole STRIDE x STRIDE cell of
    the rows x cols grid is a destination; the rest, edge tokens outside whole cells included, are sources."""
    import torch

    cell_rows, cell_cols = rows // STRIDE, cols // STRIDE
    chosen = torch.randint(STRIDE * STRIDE, size=(cell_rows, cell_cols, 1), device=device)
    marks = torch.zeros(cell_rows, cell_cols, STRIDE * STRIDE, device=device, dtype=torch.int64)
    marks.scatter_(dim=2, index=chosen, src=-torch.ones_like(chosen))
    marks = marks.reshape(cell_rows, cell_cols, STRIDE, STRIDE).transpose(1, 2)
    marks = marks.reshape(cell_rows * STRIDE, cell_cols * STRIDE)
    if marks.shape != (rows, cols):
        whole = torch.zeros(rows, cols, device=device, dtype=torch.int64)
        whole[:marks.shape[0], :marks.shape[1]] = marks
        marks = whole
    return marks.reshape(1, -1, 1).argsort(dim=1)  # -1 (destination) sorts before 0 (source)


def bipartite_merge(metric: Any, rows: int, cols: int, count: int) -> tuple[Callable, Callable]:
    """(merge, unmerge) for tokens like `metric` [B, N, C] on a rows x cols grid: merge averages the `count` source
    tokens whose best cosine similarity to a destination is highest into that destination (N - count tokens
    left, unmerged sources first); unmerge gives every token back, a merged source taking its destination's
    value."""
    import torch

    batch, tokens, _ = metric.shape
    if count <= 0 or rows == 1 or cols == 1:
        return _unchanged, _unchanged
    with torch.no_grad():
        order = _destination_order(rows, cols, metric.device)
        destinations = (rows // STRIDE) * (cols // STRIDE)
        src_index, dst_index = order[:, destinations:, :], order[:, :destinations, :]

        def split(x: Any) -> tuple:
            channels = x.shape[-1]
            return (x.gather(1, src_index.expand(batch, tokens - destinations, channels)),
                    x.gather(1, dst_index.expand(batch, destinations, channels)))

        sources, targets = split(metric / metric.norm(dim=-1, keepdim=True))
        count = min(sources.shape[1], count)
        best, best_target = (sources @ targets.transpose(-1, -2)).max(dim=-1)
        ranked = best.argsort(dim=-1, descending=True)[..., None]
        kept, merged = ranked[..., count:, :], ranked[..., :count, :]
        merged_target = best_target[..., None].gather(-2, merged)

    def merge(x: Any) -> Any:
        src, dst = split(x)
        n, src_tokens, channels = src.shape
        kept_src = src.gather(-2, kept.expand(n, src_tokens - count, channels))
        moving = src.gather(-2, merged.expand(n, count, channels))
        dst = dst.scatter_reduce(-2, merged_target.expand(n, count, channels), moving, reduce="mean")
        return torch.cat([kept_src, dst], dim=1)

    def unmerge(x: Any) -> Any:
        kept_count = kept.shape[1]
        kept_src, dst = x[..., :kept_count, :], x[..., kept_count:, :]
        channels = kept_src.shape[-1]
        out = torch.zeros(batch, tokens, channels, device=x.device, dtype=x.dtype)
        out.scatter_(-2, dst_index.expand(batch, destinations, channels), dst)
        source_positions = src_index.expand(batch, src_index.shape[1], 1)
        out.scatter_(-2, source_positions.gather(1, kept).expand(batch, kept_count, channels), kept_src)
        out.scatter_(-2, source_positions.gather(1, merged).expand(batch, count, channels),
                     dst.gather(-2, merged_target.expand(batch, count, channels)))
        return out

    return merge, unmerge


def merge_functions(q: Any, ratio: float, original_shape: list) -> tuple[Callable, Callable]:
    """Merging for an attention whose queries are at the latent's full size (ComfyUI merges nowhere else):
    int(tokens * ratio) of them."""
    _, _, height, width = original_shape
    downsample = int(math.ceil(math.sqrt((height * width) // q.shape[1])))
    if downsample > 1:
        return _unchanged, _unchanged
    rows, cols = int(math.ceil(height / downsample)), int(math.ceil(width / downsample))
    return bipartite_merge(q, rows, cols, int(q.shape[1] * ratio))


def tome_patches(ratio: float) -> tuple:
    """(attn1 patch, attn1 output patch): the queries merged, the attention's output unmerged."""
    pending: list[Callable] = [_unchanged]

    def merge_queries(q: Any, k: Any, v: Any, extra_options: dict) -> tuple:
        merge, pending[0] = merge_functions(q, ratio, extra_options["original_shape"])
        return merge(q), k, v

    def unmerge_output(out: Any, extra_options: dict) -> Any:
        return pending[0](out)

    return merge_queries, unmerge_output


class TomePatchModel(UNetPatchNode):
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {}),
                             "ratio": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def patch(self, model: Any, ratio: float):
        """A clone whose full-size self-attentions merge `ratio` of their queries (faster, slightly different)."""
        merge_queries, unmerge_output = tome_patches(float(ratio))
        patched = model.clone()
        patched.set_model_attn1_patch(merge_queries)
        patched.set_model_attn1_output_patch(unmerge_output)
        return (patched,)


NODE_CLASS_MAPPINGS = {"TomePatchModel": TomePatchModel}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
