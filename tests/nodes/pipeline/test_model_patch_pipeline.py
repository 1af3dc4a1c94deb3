"""Model patches through the engine on the tiny SD1 checkpoint: RescaleCFG, CFGZeroStar and CFGNorm between the
loader and KSampler (or CFGGuider), and ComfyUI-style packs whose nodes clone the MODEL and set a cfg function, an
attention patch or attention replacements (computed with comfy.ldm's optimized_attention), loaded by the real plugin
loader. Each patched MODEL is a clone: the source samples as before after it.

The sampled latents are compared (saved by SaveLatent): the tiny VAE shrinks the patches' effect on pixels."""
from __future__ import annotations

import textwrap

import pytest
import torch

from graph_engine import Engine, discover_plugins, load_plugins
from nodes.latent.latent_files import TENSOR_KEY
from nodes.comfy_compat import explain_import_failure, install_comfy_modules
from tests.fixtures.example_workflows import example_prompt
from tests.fixtures.registries import builtin_registry

CFG = 6.0

PATCH_PACK = '''
class PositiveOnly:
    """Guidance by the positive prompt alone: the image KSampler makes at cfg 1."""

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"model": ("MODEL",)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "model_patches"

    def patch(self, model):
        m = model.clone()

        def positive_only(args):
            return args["cond"]

        m.set_model_sampler_cfg_function(positive_only)
        return (m,)


class PlainCfg(PositiveOnly):
    """CFG written out from the arguments: the unpatched image."""

    def patch(self, model):
        m = model.clone()
        m.set_model_sampler_cfg_function(lambda args: args["uncond"] + (args["cond"] - args["uncond"]) * args["cond_scale"])
        return (m,)


class CrossAttendTo(PositiveOnly):
    """Every cross-attention reads the given conditioning's text instead of the prompt's (an attn2 patch)."""

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"model": ("MODEL",), "conditioning": ("CONDITIONING",)}}

    def patch(self, model, conditioning):
        m = model.clone()
        text = conditioning[0][0]

        def attend_to_text(n, context, value, extra_options):
            other = text.to(n.device, n.dtype).expand(n.shape[0], -1, -1)
            return n, other, other

        m.set_model_attn2_patch(attend_to_text)
        return (m,)


NODE_CLASS_MAPPINGS = {"LLPositiveOnly": PositiveOnly, "LLPlainCfg": PlainCfg, "LLCrossAttendTo": CrossAttendTo}
'''


def graph(checkpoint: str, cfg: float = CFG, patch: dict | None = None, guider: bool = False) -> dict:
    """Text to latent at 64 px in 4 steps (saved by node 9), the MODEL through node 30 (`patch`, taking ["4", 0]) when given; with
    `guider`, sampled by SamplerCustomAdvanced over a CFGGuider instead of KSampler."""
    prompt = example_prompt("text_to_image.json")
    prompt["4"]["inputs"]["ckpt_name"] = checkpoint
    ks = prompt["3"]["inputs"]
    ks.update(seed=5, steps=4, cfg=cfg, sampler_name="euler", scheduler="normal")
    prompt["5"]["inputs"].update(width=64, height=64)
    prompt["6"]["inputs"]["text"] = "a lighthouse at dusk"
    del prompt["8"]
    prompt["9"] = {"class_type": "SaveLatent", "inputs": {"samples": ["3", 0], "filename_prefix": "patched"}}
    prompt["7"]["inputs"]["text"] = "blurry"
    if patch is not None:
        prompt["30"] = patch
        ks["model"] = ["30", 0]
    if guider:
        prompt["20"] = {"class_type": "CFGGuider", "inputs": {"model": ks["model"], "positive": ks["positive"],
                                                              "negative": ks["negative"], "cfg": cfg}}
        prompt["21"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": 5}}
        prompt["22"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}}
        prompt["23"] = {"class_type": "BasicScheduler", "inputs": {"model": ks["model"], "scheduler": "normal",
                                                                   "steps": 4, "denoise": 1.0}}
        prompt["3"] = {"class_type": "SamplerCustomAdvanced", "inputs": {
            "noise": ["21", 0], "guider": ["20", 0], "sampler": ["22", 0], "sigmas": ["23", 0],
            "latent_image": ks["latent_image"]}}
    return prompt


def patch_node(class_type: str, **inputs) -> dict:
    return {"class_type": class_type, "inputs": {"model": ["4", 0], **inputs}}


def sampled(engine, base, prompt: dict) -> torch.Tensor:
    from safetensors.torch import load_file

    result = engine.run(prompt)
    assert result.status == "success", result.error
    saved = result.outputs["9"]["latents"][0]
    return load_file(base / "output" / saved["subfolder"] / saved["filename"])[TENSOR_KEY]


def differ(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Apart by more than 0.1% of the latent's spread on average: the tiny UNet's positive and negative predictions
    are close, so these patches move its latent by 0.8% or more, while float noise stays below 0.0001%."""
    return float((a - b).abs().mean()) > 1e-3 * float(b.std())


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-4, atol=1e-4)


def engine_with_pack(studio, tmp_path, name: str, source: str) -> Engine:
    """An engine over the studio's folders with the built-in nodes and the ComfyUI-style pack `source`, loaded by the
    real plugin loader."""
    folder = tmp_path / "custom_nodes"
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(textwrap.dedent(source))
    install_comfy_modules(studio.engine.folders)
    registry = builtin_registry(studio.engine.folders)
    reports = load_plugins(registry, discover_plugins([folder]), explain_failure=explain_import_failure)
    assert all(report.ok for report in reports), [report.error for report in reports]
    return Engine(registry, studio.engine.folders)


@pytest.fixture
def fresh_engine(studio):
    """An engine over the studio's folders with an empty cache."""
    return Engine(builtin_registry(studio.engine.folders), studio.engine.folders)


@pytest.fixture(scope="module")
def plain(studio):
    """The unpatched latents, by KSampler (False) and by CFGGuider (True)."""
    name = studio.tiny["sd1"].path.name
    return {guider: sampled(studio.engine, studio.base, graph(name, guider=guider)) for guider in (False, True)}


@pytest.mark.parametrize("guider", [False, True], ids=["KSampler", "CFGGuider"])
def test_rescale_cfg_changes_the_latent_and_not_at_multiplier_0(studio, plain, fresh_engine, guider):
    name = studio.tiny["sd1"].path.name
    run = lambda prompt: sampled(fresh_engine, studio.base, prompt)  # noqa: E731
    rescaled = run(graph(name, cfg=12.0, patch=patch_node("RescaleCFG", multiplier=1.0), guider=guider))
    assert differ(rescaled, run(graph(name, cfg=12.0, guider=guider)))
    assert same(run(graph(name, patch=patch_node("RescaleCFG", multiplier=0.0), guider=guider)), plain[guider])
    # the loader's cached MODEL was not patched in place: the source, sampled afresh after its clones, as before
    assert torch.equal(run(graph(name, guider=guider)), plain[guider])


@pytest.mark.parametrize("patch", [patch_node("CFGZeroStar"), patch_node("CFGNorm", strength=1.0),
                                   patch_node("CFGNorm", strength=1.0, pre_cfg=True)],
                         ids=["CFGZeroStar", "CFGNorm", "CFGNorm-pre"])
def test_cfg_variants_change_the_latent(studio, plain, patch):
    name = studio.tiny["sd1"].path.name
    assert differ(sampled(studio.engine, studio.base, graph(name, patch=patch)), plain[False])


def test_a_comfy_pack_setting_a_cfg_function_guides_the_sampler(studio, plain, tmp_path):
    engine = engine_with_pack(studio, tmp_path, "ll_cfg_patch", PATCH_PACK)
    name = studio.tiny["sd1"].path.name
    positive_only = sampled(engine, studio.base, graph(name, patch=patch_node("LLPositiveOnly")))
    assert differ(positive_only, plain[False])
    assert same(positive_only, sampled(engine, studio.base, graph(name, cfg=1.0)))
    assert same(sampled(engine, studio.base, graph(name, patch=patch_node("LLPlainCfg"))), plain[False])
    # an attention patch: both halves of guidance attend to the negative's text, which is sampling with the
    # negative prompt on both sides
    attending = sampled(engine, studio.base, graph(name, patch=patch_node("LLCrossAttendTo", conditioning=["7", 0])))
    assert differ(attending, plain[False])
    negative_both = graph(name)
    negative_both["6"]["inputs"]["text"] = negative_both["7"]["inputs"]["text"]
    assert same(attending, sampled(engine, studio.base, negative_both))


ATTENTION_PACK = '''
import torch
from comfy.ldm.modules.attention import optimized_attention

# every block an SD1 UNet can hold a cross-attention in, as attention-patching packs list them
BLOCKS = [("input", n) for n in range(12)] + [("middle", 0)] + [("output", n) for n in range(12)]


class ReplaceCrossAttention:
    """Computes every cross-attention from the UNet's (q, k, v) with ComfyUI's optimized_attention: as is, through
    the heads-first layout, or with the values scaled by 0."""

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"model": ("MODEL",), "mode": (["exact", "heads_first", "zero_value"],)}}

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "model_patches"

    def patch(self, model, mode):
        m = model.clone()

        def attend(q, k, v, extra_options):
            heads = extra_options["n_heads"]
            if mode == "zero_value":
                return optimized_attention(q, k, v * 0, heads)
            if mode == "heads_first":
                b, dim = q.shape[0], extra_options["dim_head"]
                q, k, v = (t.view(b, -1, heads, dim).transpose(1, 2) for t in (q, k, v))
                out = optimized_attention(q, k, v, heads, skip_reshape=True, skip_output_reshape=True)
                return out.transpose(1, 2).reshape(b, -1, heads * dim)
            return optimized_attention(q, k, v, heads)

        for block_name, number in BLOCKS:
            m.set_model_attn2_replace(attend, block_name, number)
        return (m,)


class ZeroCrossAttentionValue(ReplaceCrossAttention):
    """The cross-attention's value input zeroed by an attn2 patch, before the value projection."""

    @classmethod
    def INPUT_TYPES(s):
        return {"required": {"model": ("MODEL",)}}

    def patch(self, model):
        m = model.clone()
        m.set_model_attn2_patch(lambda n, context, value, extra_options: (n, context, torch.zeros_like(value)))
        return (m,)


NODE_CLASS_MAPPINGS = {"LLReplaceCrossAttention": ReplaceCrossAttention,
                       "LLZeroCrossAttentionValue": ZeroCrossAttentionValue}
'''


def test_a_comfy_pack_replacing_cross_attention_with_optimized_attention(studio, plain, tmp_path):
    engine = engine_with_pack(studio, tmp_path, "ll_attention_replace", ATTENTION_PACK)
    name = studio.tiny["sd1"].path.name
    replace = lambda mode: graph(name, patch=patch_node("LLReplaceCrossAttention", mode=mode))  # noqa: E731
    # recomputing the attention from the UNet's own q, k, v is exact, in either layout
    assert same(sampled(engine, studio.base, replace("exact")), plain[False])
    assert same(sampled(engine, studio.base, replace("heads_first")), plain[False])
    # values scaled by 0 in the replacement: every cross-attention gives only its output bias, as when its value
    # input is zeroed before the (bias-free) value projection
    zeroed = sampled(engine, studio.base, replace("zero_value"))
    assert differ(zeroed, plain[False])
    assert same(zeroed, sampled(engine, studio.base, graph(name, patch=patch_node("LLZeroCrossAttentionValue"))))
