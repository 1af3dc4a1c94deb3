"""Guidance-level model patches through the engine between the loader and KSampler (tiny checkpoints, latents
compared as in test_model_patch_pipeline).

ModelSamplingDiscrete: on an eps checkpoint "eps" samples the very latent of the unpatched model and "v_prediction"
another; on a v checkpoint "v_prediction" is its own reading. So the patched model sampling, not the checkpoint's,
is what the sampler uses. The cfg-level patches each move the latent (their maths is checked in
tests/nodes/model_patches)."""
from __future__ import annotations

import pytest
import torch

from tests.nodes.pipeline.test_model_patch_pipeline import differ, graph, patch_node, sampled, same


def run(studio, key: str, patch: dict | None = None, extra: dict | None = None) -> torch.Tensor:
    prompt = graph(studio.tiny[key].path.name, patch=patch)
    prompt.update(extra or {})
    return sampled(studio.engine, studio.base, prompt)


@pytest.fixture(scope="module")
def plain(studio):
    return run(studio, "sd1")


def test_model_sampling_discrete_is_what_ksampler_samples_with(studio, plain):
    assert same(run(studio, "sd1", patch_node("ModelSamplingDiscrete", sampling="eps", zsnr=False)), plain)
    assert differ(run(studio, "sd1", patch_node("ModelSamplingDiscrete", sampling="v_prediction", zsnr=False)), plain)
    assert same(run(studio, "sd2_v", patch_node("ModelSamplingDiscrete", sampling="v_prediction", zsnr=False)),
                run(studio, "sd2_v"))


@pytest.mark.parametrize("patch", [patch_node("Epsilon Scaling", scaling_factor=1.2),
                                   patch_node("TemporalScoreRescaling", tsr_k=0.5, tsr_sigma=1.0),
                                   patch_node("APG", eta=0.0, norm_threshold=1.0, momentum=0.5)],
                         ids=["EpsilonScaling", "TSR", "APG"])
def test_cfg_level_patches_move_the_latent(studio, plain, patch):
    assert differ(run(studio, "sd1", patch), plain)


def test_latent_apply_operation_cfg_with_an_operation_node(studio, plain):
    operation = {"40": {"class_type": "LatentOperationTonemapReinhard", "inputs": {"multiplier": 0.5}}}
    assert differ(run(studio, "sd1", patch_node("LatentApplyOperationCFG", operation=["40", 0]), operation), plain)


def test_differential_diffusion_changes_a_soft_inpaint(studio):
    def masked(value: float, patch: dict | None) -> torch.Tensor:
        extra = {"41": {"class_type": "SolidMask", "inputs": {"value": value, "width": 64, "height": 64}},
                 "42": {"class_type": "SetLatentNoiseMask", "inputs": {"samples": ["5", 0], "mask": ["41", 0]}}}
        prompt = graph(studio.tiny["sd1"].path.name, patch=patch)
        prompt.update(extra)
        prompt["3"]["inputs"]["latent_image"] = ["42", 0]
        return sampled(studio.engine, studio.base, prompt)

    assert differ(masked(0.5, patch_node("DifferentialDiffusion", strength=1.0)), masked(0.5, None))


def test_perp_neg_measured_from_the_negative_itself_is_plain_cfg(studio, plain):
    """With the negative prompt as the empty one, its offset is 0 and Perp-Neg reduces to CFG; PerpNegGuider at
    neg_scale 0 is CFG against its empty prompt, whatever the negative."""
    name = studio.tiny["sd1"].path.name
    patched = graph(name, patch=patch_node("PerpNeg", empty_conditioning=["7", 0], neg_scale=1.0))
    assert same(sampled(studio.engine, studio.base, patched), plain)
    prompt = graph(name, guider=True)
    prompt["20"] = {"class_type": "PerpNegGuider", "inputs": {
        "model": ["4", 0], "positive": ["6", 0], "negative": ["6", 0], "empty_conditioning": ["7", 0],
        "cfg": prompt["20"]["inputs"]["cfg"], "neg_scale": 0.0}}
    assert same(sampled(studio.engine, studio.base, prompt), plain)


def test_cfg_override_over_the_whole_run_is_that_cfg(studio):
    name = studio.tiny["sd1"].path.name
    overridden = graph(name, patch=patch_node("CFGOverride", cfg=1.0, start_percent=0.0, end_percent=1.0))
    assert same(sampled(studio.engine, studio.base, overridden),
                sampled(studio.engine, studio.base, graph(name, cfg=1.0)))
