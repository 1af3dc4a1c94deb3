"""ModelSamplingDiscrete through the engine between the loader and KSampler: on an eps checkpoint "eps" samples the
very latent of the unpatched model and "v_prediction" another; on a v checkpoint "v_prediction" is its own reading.
So the patched model sampling, not the checkpoint's, is what the sampler uses."""
from __future__ import annotations

import torch

from tests.nodes.pipeline.test_model_patch_pipeline import differ, graph, patch_node, sampled, same


def run(studio, key: str, patch: dict | None = None) -> torch.Tensor:
    return sampled(studio.engine, studio.base, graph(studio.tiny[key].path.name, patch=patch))


def test_model_sampling_discrete_is_what_ksampler_samples_with(studio):
    plain = run(studio, "sd1")
    assert same(run(studio, "sd1", patch_node("ModelSamplingDiscrete", sampling="eps", zsnr=False)), plain)
    as_v = run(studio, "sd1", patch_node("ModelSamplingDiscrete", sampling="v_prediction", zsnr=False))
    assert differ(as_v, plain)
    assert same(run(studio, "sd2_v", patch_node("ModelSamplingDiscrete", sampling="v_prediction", zsnr=False)),
                run(studio, "sd2_v"))
    assert differ(run(studio, "sd2_v", patch_node("ModelSamplingDiscrete", sampling="v_prediction", zsnr=True)),
                  run(studio, "sd2_v"))
