"""ComfyUI's comfy_extras.nodes_sag: Self-Attention Guidance. The negative's x0 is blurred where the middle block's
self-attention concentrates, noised back and predicted again; the guided x0 moves away from that prediction."""
from __future__ import annotations

import math
from typing import Any

from graph_engine import InvalidNodeInput

from .unet_patch_node import UNetPatchNode

PYTHON_MODULE = "comfy_extras.nodes_sag"
BLUR_KERNEL = 9
ATTENTION_THRESHOLD = 1.0  # a key is "attended" when the queries' total attention on it is above the average, 1
SMALLEST_SIDE = 5  # latents no larger than 4 cells on a side cannot be padded for the blur: SAG passes


def attention_with_scores(q: Any, k: Any, v: Any, heads: int, upcast: bool = False) -> tuple:
    """Attention over [batch, tokens, heads * dim] inputs, and its softmaxed scores [batch * heads, q tokens, k
    tokens] (batch-major)."""
    import torch

    batch, _, width = q.shape
    dim = width // heads
    q, k, v = (t.reshape(batch, -1, heads, dim).transpose(1, 2).reshape(batch * heads, -1, dim) for t in (q, k, v))
    if upcast:
        q, k = q.float(), k.float()
    scores = (torch.bmm(q, k.transpose(1, 2)) * dim ** -0.5).softmax(dim=-1)
    out = torch.bmm(scores.to(v.dtype), v)
    return out.reshape(batch, heads, -1, dim).transpose(1, 2).reshape(batch, -1, width), scores


def score_grid(tokens: int, height: int, width: int) -> tuple[int, int]:
    """The rows and columns of a feature map of `tokens` cells with the latent's aspect ratio (the divisor of
    tokens nearest the ideal row count, as ComfyUI searches it)."""
    ideal = round(math.sqrt(height / width * tokens))
    for offset in range(math.floor(math.sqrt(tokens) / 2)):
        for rows in (ideal + offset, max(1, ideal - offset)):
            if tokens % rows == 0:
                return rows, tokens // rows
    raise InvalidNodeInput(f"Self-Attention Guidance cannot lay the middle block's {tokens} attention cells out "
                           f"on a {height}x{width} latent; use a latent of another size")


def gaussian_blur(image: Any, kernel_size: int, sigma: float) -> Any:
    """Per-channel Gaussian blur of [B, C, H, W] with a kernel_size square kernel, edges reflected; sigma 0 leaves
    the image as it is (a point kernel)."""
    import torch
    import torch.nn.functional as F

    offsets = torch.linspace(-(kernel_size - 1) / 2, (kernel_size - 1) / 2, steps=kernel_size)
    if sigma > 0:
        weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    else:
        weights = (offsets == 0).float()
    weights = (weights / weights.sum()).to(image.device, image.dtype)
    kernel = (weights[:, None] * weights[None, :]).expand(image.shape[1], 1, kernel_size, kernel_size)
    padded = F.pad(image, [kernel_size // 2] * 4, mode="reflect")
    return F.conv2d(padded, kernel, groups=image.shape[1])


def blurred_where_attended(x0: Any, scores: Any, blur_sigma: float) -> Any:
    """x0 blurred over the cells whose keys get more than the average attention (mean over heads, summed over
    queries), left as it is elsewhere."""
    import torch.nn.functional as F

    batch, _, height, width = x0.shape
    tokens = scores.shape[-1]
    attended = scores.reshape(batch, -1, scores.shape[-2], tokens).mean(1).sum(1) > ATTENTION_THRESHOLD
    rows, cols = score_grid(tokens, height, width)
    mask = F.interpolate(attended.reshape(batch, 1, rows, cols).to(scores.dtype), (height, width)).to(x0.dtype)
    return gaussian_blur(x0, BLUR_KERNEL, blur_sigma) * mask + x0 * (1 - mask)


def sag_patches(scale: float, blur_sigma: float) -> tuple:
    """(middle attn1 replacement, post-cfg function): the replacement keeps the negative's attention scores of the
    step; the post-cfg function adds scale (degraded x0 - the negative's prediction of the degraded latent)."""
    import torch

    from ..runtime.models.transformer_forward import attention

    recorded: dict[str, Any] = {}

    def attention_recording_uncond(q: Any, k: Any, v: Any, extra_options: dict) -> Any:
        heads, chunks = extra_options["n_heads"], extra_options["cond_or_uncond"]
        if 1 not in chunks:
            return attention(q, k, v, heads)
        out, scores = attention_with_scores(q, k, v, heads, extra_options.get("attn_precision") == torch.float32)
        per_chunk = heads * (q.shape[0] // len(chunks))
        start = per_chunk * chunks.index(1)
        recorded["scores"] = scores[start:start + per_chunk]
        return out

    def post_cfg_function(args: dict[str, Any]) -> Any:
        guided = args["denoised"]
        scores = recorded.pop("scores", None)
        if scores is None or min(guided.shape[2:]) < SMALLEST_SIDE:
            return guided
        uncond_x0, x = args["uncond_denoised"], args["input"]
        degraded = blurred_where_attended(uncond_x0, scores, blur_sigma)
        from ..runtime.guidance.cond_batch import calc_cond_batch  # torch, loaded once sampling runs

        again = calc_cond_batch(args["model"], [args["uncond"]], degraded + x - uncond_x0, args["sigma"],
                                args["model_options"])[0]
        return guided + (degraded - again) * scale

    return attention_recording_uncond, post_cfg_function


class SelfAttentionGuidance(UNetPatchNode):
    CATEGORY = "experimental"
    EXPERIMENTAL = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL", {}),
                             "scale": ("FLOAT", {"default": 0.5, "min": -2.0, "max": 5.0, "step": 0.01}),
                             "blur_sigma": ("FLOAT", {"default": 2.0, "min": 0.0, "max": 10.0, "step": 0.1,
                                                      "advanced": True})}}

    def patch(self, model: Any, scale: float, blur_sigma: float):
        """A clone that records the negative's middle-block attention and runs the model again per step for SAG;
        the negative is computed even at cfg 1."""
        record, post_cfg_function = sag_patches(float(scale), float(blur_sigma))
        patched = model.clone()
        patched.set_model_sampler_post_cfg_function(post_cfg_function, disable_cfg1_optimization=True)
        patched.set_model_attn1_replace(record, "middle", 0, 0)
        return (patched,)


NODE_CLASS_MAPPINGS = {"SelfAttentionGuidance": SelfAttentionGuidance}
NODE_DISPLAY_NAME_MAPPINGS = {"SelfAttentionGuidance": "Self-Attention Guidance"}
