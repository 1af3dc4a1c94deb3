"""The diffusion nodes against an independent reference loop over the same diffusers modules and the same noise.

Every comparison also checks that a plausible mistake (a wrong sigma, a wrong CFG formula, the wrong prediction type)
lands far outside the tolerance, so the tolerance can catch one.
"""
from __future__ import annotations

import pytest
import torch

from tests.nodes.pipeline import reference_loop as ref

SEED, STEPS, CFG = 42, 5, 7.5
TOLERANCE = 2e-3  # absolute, for latents of these random tiny models (values up to a few hundred)
RELATIVE = 2e-5  # of the largest value: float32 rounding over a few steps of batched vs unbatched UNet calls
REORDERED = 1e-6  # of the largest value: the same sums in another order (a few float32 ulps at that magnitude)


def close(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max())


def reordered(got: torch.Tensor, expected: torch.Tensor) -> bool:
    """`got` is `expected` computed the same way up to the order of float32 operations."""
    return close(got, expected) < REORDERED * max(1.0, float(expected.abs().max()))


def assert_matches(got, expected, *mistakes):
    """`got` equals `expected` within the tolerance, and every mistaken reference is far outside it."""
    assert got.shape == expected.shape
    tolerance = max(TOLERANCE, RELATIVE * float(expected.abs().max()))
    assert close(got, expected) < tolerance, (close(got, expected), float(expected.abs().max()))
    for mistake in mistakes:
        assert close(got, mistake) > 50 * tolerance


def encode(clip, text):
    from nodes.diffusion.text import CLIPTextEncode

    return CLIPTextEncode().encode(clip, text)[0]


def ksample(model, positive, negative, latent, **options):
    from nodes.diffusion.sampling import KSampler

    settings = dict(seed=SEED, steps=STEPS, cfg=CFG, sampler_name="euler", scheduler="normal", denoise=1.0)
    settings.update(options)
    return KSampler().sample(model, positive=positive, negative=negative, latent_image=latent, **settings)[0]


def empty_latent(size=64):
    from nodes.latent.latent_nodes import EmptyLatentImage

    return EmptyLatentImage().generate(size, size, 1)[0]


def sd1_context(tiny, text):
    return ref.clip_hidden(tiny.text_encoders[0], ref.token_ids(text, pad=ref.EOS), -1, True)


def test_sd1_text_to_image_gives_the_reference_latent(studio):
    model, clip, _ = studio.load("sd1")
    tiny = studio.tiny["sd1"]
    got = ksample(model, encode(clip, "a photo of a cat"), encode(clip, "blurry"), empty_latent())["samples"]
    noise = ref.initial_noise(got.shape, SEED)
    cond, uncond = sd1_context(tiny, "a photo of a cat"), sd1_context(tiny, "blurry")
    sigmas = ref.normal_sigmas(STEPS)
    expected = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas, cond=cond, uncond=uncond, cfg=CFG)
    shifted = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas * 1.1, cond=cond, uncond=uncond, cfg=CFG)
    swapped = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas, cond=uncond, uncond=cond, cfg=CFG)
    as_v = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas, cond=cond, uncond=uncond, cfg=CFG,
                         prediction="v_prediction")
    assert_matches(got, expected, shifted, swapped, as_v)


def test_sd2_v_prediction_gives_the_reference_latent(studio):
    model, clip, _ = studio.load("sd2_v")
    tiny = studio.tiny["sd2_v"]
    assert model.prediction_type == "v_prediction"
    got = ksample(model, encode(clip, "a red fox"), encode(clip, ""), empty_latent())["samples"]

    def context(text):  # SD2 conditions on the penultimate layer, final-normed, padding with 0
        return ref.clip_hidden(tiny.text_encoders[0], ref.token_ids(text, pad=0), -2, True)

    noise, sigmas = ref.initial_noise(got.shape, SEED), ref.normal_sigmas(STEPS)
    expected = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas, cond=context("a red fox"), uncond=context(""),
                             cfg=CFG, prediction="v_prediction")
    as_eps = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas, cond=context("a red fox"), uncond=context(""),
                           cfg=CFG)
    assert_matches(got, expected, as_eps)


def test_sdxl_uses_both_encoders_the_pooled_embedding_and_the_image_size(studio):
    model, clip, _ = studio.load("sdxl")
    tiny = studio.tiny["sdxl"]
    got = ksample(model, encode(clip, "a castle"), encode(clip, "fog"), empty_latent(64))["samples"]
    text_l, text_g = tiny.text_encoders

    def conditioning(text, height, width):
        context = torch.cat([ref.clip_hidden(text_l, ref.token_ids(text, pad=ref.EOS), -2, False),
                             ref.clip_hidden(text_g, ref.token_ids(text, pad=0), -2, False)], dim=-1)
        added = {"text_embeds": ref.sdxl_pooled(text_g, ref.token_ids(text, pad=0)),
                 "time_ids": torch.tensor([[height, width, 0, 0, height, width]], dtype=torch.float32)}
        return context, added

    (cond, added_cond), (uncond, added_uncond) = conditioning("a castle", 64, 64), conditioning("fog", 64, 64)
    noise, sigmas = ref.initial_noise(got.shape, SEED), ref.normal_sigmas(STEPS)
    run = dict(noise=noise, sigmas=sigmas, cfg=CFG, scale=0.13025)
    expected = ref.euler_cfg(tiny.unet, cond=cond, uncond=uncond, added_cond=added_cond, added_uncond=added_uncond,
                             **run)
    (_, other_size), (_, other_size_uncond) = conditioning("a castle", 1024, 1024), conditioning("fog", 1024, 1024)
    wrong_size = ref.euler_cfg(tiny.unet, cond=cond, uncond=uncond, added_cond=other_size,
                               added_uncond=other_size_uncond, **run)
    assert_matches(got, expected, wrong_size)


def test_img2img_with_denoise_half_runs_the_tail_of_a_longer_schedule(studio):
    from nodes.diffusion.vae import VAEEncode

    model, clip, vae = studio.load("sd1")
    tiny = studio.tiny["sd1"]
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(3))
    latent = VAEEncode().encode(vae, image)[0]
    with torch.no_grad():
        expected_start = tiny.vae.encode(image.movedim(-1, 1) * 2 - 1).latent_dist.mode()
    assert close(latent["samples"], expected_start) < 1e-4
    got = ksample(model, encode(clip, "a cat"), encode(clip, ""), latent, denoise=0.5)["samples"]
    noise = ref.initial_noise(got.shape, SEED)
    cond, uncond = sd1_context(studio.tiny["sd1"], "a cat"), sd1_context(studio.tiny["sd1"], "")
    tail = ref.normal_sigmas(2 * STEPS)[-(STEPS + 1):]
    expected = ref.euler_cfg(tiny.unet, noise=noise, sigmas=tail, cond=cond, uncond=uncond, cfg=CFG,
                             start=latent["samples"])
    from_scratch = ref.euler_cfg(tiny.unet, noise=noise, sigmas=ref.normal_sigmas(STEPS), cond=cond, uncond=uncond,
                                 cfg=CFG, start=latent["samples"])
    assert_matches(got, expected, from_scratch)


def test_inpainting_changes_only_the_masked_region(studio):
    from nodes.diffusion.vae import VAEEncodeForInpaint

    model, clip, vae = studio.load("sd1")
    tiny = studio.tiny["sd1"]
    image = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(4))
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:48, 16:48] = 1.0
    latent = VAEEncodeForInpaint().encode(vae, image, mask, grow_mask_by=0)[0]
    got = ksample(model, encode(clip, "a dog"), encode(clip, ""), latent)["samples"]
    latent_mask = torch.nn.functional.interpolate(latent["noise_mask"].reshape(1, 1, 64, 64), size=got.shape[-2:],
                                                  mode="bilinear")
    noise = ref.initial_noise(got.shape, SEED)
    cond, uncond = sd1_context(tiny, "a dog"), sd1_context(tiny, "")
    expected = ref.euler_cfg(tiny.unet, noise=noise, sigmas=ref.normal_sigmas(STEPS), cond=cond, uncond=uncond,
                             cfg=CFG, start=latent["samples"], mask=latent_mask)
    unmasked = ref.euler_cfg(tiny.unet, noise=noise, sigmas=ref.normal_sigmas(STEPS), cond=cond, uncond=uncond,
                             cfg=CFG, start=latent["samples"])
    assert_matches(got, expected, unmasked)
    outside = (latent_mask == 0).expand_as(got)
    assert torch.allclose(got[outside], latent["samples"][outside], atol=1e-5)  # kept exactly where not masked
    # the masked pixels were greyed out before encoding, so the old content does not leak into the new region
    assert "noise_mask" in latent and latent["noise_mask"].shape == (1, 1, 64, 64)


def test_a_100_token_prompt_conditions_on_two_concatenated_chunks(studio):
    model, clip, _ = studio.load("sd1")
    tiny = studio.tiny["sd1"]
    prompt = " ".join(["cat"] * 100)  # "cat" is one token: 75 in the first chunk, 25 in the second
    positive = encode(clip, prompt)
    assert positive[0][0].shape[1] == 154
    got = ksample(model, positive, encode(clip, ""), empty_latent())["samples"]
    cond = torch.cat([sd1_context(tiny, " ".join(["cat"] * 75)), sd1_context(tiny, " ".join(["cat"] * 25))], dim=1)
    noise, sigmas = ref.initial_noise(got.shape, SEED), ref.normal_sigmas(STEPS)
    expected = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas, cond=cond, uncond=sd1_context(tiny, ""), cfg=CFG)
    first_chunk_only = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas, cond=cond[:, :77],
                                     uncond=sd1_context(tiny, ""), cfg=CFG)
    assert_matches(got, expected, first_chunk_only)


def test_a_weighted_word_moves_away_from_the_empty_prompt(studio):
    model, clip, _ = studio.load("sd1")
    tiny = studio.tiny["sd1"]
    got = ksample(model, encode(clip, "a (cat:1.3) sitting"), encode(clip, ""), empty_latent())["samples"]
    plain, empty = sd1_context(tiny, "a cat sitting"), sd1_context(tiny, "")
    weighted = plain.clone()
    weighted[:, 2] = (plain[:, 2] - empty[:, 2]) * 1.3 + empty[:, 2]  # BOS, "a", "cat": position 2
    noise, sigmas = ref.initial_noise(got.shape, SEED), ref.normal_sigmas(STEPS)
    expected = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas, cond=weighted, uncond=empty, cfg=CFG)
    unweighted = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas, cond=plain, uncond=empty, cfg=CFG)
    assert_matches(got, expected, unweighted)


def test_an_embedding_file_acts_as_extra_vocabulary(studio):
    from safetensors.torch import save_file

    model, clip, _ = studio.load("sd1")
    tiny = studio.tiny["sd1"]
    vectors = torch.randn(2, 64, generator=torch.Generator().manual_seed(5)) * 0.02
    save_file({"emb_params": vectors}, str(studio.base / "models" / "embeddings" / "twovec.safetensors"))
    got = ksample(model, encode(clip, "a embedding:twovec cat"), encode(clip, ""), empty_latent())["samples"]
    text = tiny.text_encoders[0]
    table = text.get_input_embeddings().weight
    spare = [40000, 40001]  # ids the prompt does not use stand in for the two vectors
    saved = table[spare].clone()
    with torch.no_grad():
        table[spare] = vectors
    try:
        import instant_clip_tokenizer

        words = instant_clip_tokenizer.Tokenizer()
        ids = [ref.BOS, *words.encode("a"), *spare, *words.encode("cat"), ref.EOS]
        cond = ref.clip_hidden(text, torch.tensor([ids + [ref.EOS] * (77 - len(ids))]), -1, True)
    finally:
        with torch.no_grad():
            table[spare] = saved
    noise, sigmas = ref.initial_noise(got.shape, SEED), ref.normal_sigmas(STEPS)
    uncond = sd1_context(tiny, "")
    expected = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas, cond=cond, uncond=uncond, cfg=CFG)
    without = ref.euler_cfg(tiny.unet, noise=noise, sigmas=sigmas, cond=sd1_context(tiny, "a cat"), uncond=uncond,
                            cfg=CFG)
    assert_matches(got, expected, without)


def test_two_stage_advanced_sampling_equals_one_pass(studio):
    from nodes.diffusion.sampling import KSamplerAdvanced

    model, clip, _ = studio.load("sd1")
    positive, negative = encode(clip, "a cat"), encode(clip, "")
    whole = ksample(model, positive, negative, empty_latent(), steps=6)["samples"]
    common = dict(noise_seed=SEED, steps=6, cfg=CFG, sampler_name="euler", scheduler="normal", positive=positive,
                  negative=negative)
    first = KSamplerAdvanced().sample(model, add_noise="enable", latent_image=empty_latent(), start_at_step=0,
                                      end_at_step=3, return_with_leftover_noise="enable", **common)[0]
    second = KSamplerAdvanced().sample(model, add_noise="disable", latent_image=first, start_at_step=3,
                                       end_at_step=10000, return_with_leftover_noise="disable", **common)[0]
    assert reordered(second["samples"], whole)
    assert close(first["samples"], whole) > 50 * TOLERANCE


def test_combined_or_whole_image_area_conditioning_changes_nothing_but_a_smaller_area_does(studio):
    from nodes.diffusion.conditioning import ConditioningCombine, ConditioningSetArea

    model, clip, _ = studio.load("sd1")
    positive, negative = encode(clip, "a cat"), encode(clip, "")
    plain = ksample(model, positive, negative, empty_latent())["samples"]
    twice = ConditioningCombine().combine(positive, positive)[0]
    assert reordered(ksample(model, twice, negative, empty_latent())["samples"], plain)
    whole = ConditioningSetArea().append(positive, 64, 64, 0, 0, 1.0)[0]
    assert reordered(ksample(model, whole, negative, empty_latent())["samples"], plain)
    corner = ConditioningCombine().combine(positive, ConditioningSetArea().append(
        encode(clip, "a dog"), 32, 32, 0, 0, 1.0)[0])[0]
    mixed = ksample(model, corner, negative, empty_latent())["samples"]
    assert close(mixed, plain) > 50 * TOLERANCE


def test_cfg_one_ignores_the_negative_prompt(studio):
    model, clip, _ = studio.load("sd1")
    one = ksample(model, encode(clip, "a cat"), encode(clip, "blurry"), empty_latent(), cfg=1.0)["samples"]
    other = ksample(model, encode(clip, "a cat"), encode(clip, "a dog"), empty_latent(), cfg=1.0)["samples"]
    assert torch.equal(one, other)


@pytest.mark.parametrize("size", [64, 96])
def test_vae_decode_is_diffusers_decode_in_comfyui_image_layout(studio, size):
    from nodes.diffusion.vae import VAEDecode

    _, _, vae = studio.load("sd1")
    samples = torch.randn(1, 4, size // 2, size // 2, generator=torch.Generator().manual_seed(6))
    image = VAEDecode().decode(vae, {"samples": samples})[0]
    with torch.no_grad():
        expected = ((studio.tiny["sd1"].vae.decode(samples).sample + 1) / 2).clamp(0, 1).movedim(1, -1)
    assert image.shape == (1, size, size, 3) and image.device.type == "cpu"
    assert close(image, expected) < 1e-4


def test_a_latent_of_another_family_is_refused_with_advice(studio):
    model, clip, vae = studio.load("sd1")
    from nodes.diffusion.vae import VAEDecode

    with pytest.raises(ValueError, match="Use the VAE of the model that made the latent"):
        VAEDecode().decode(vae, {"samples": torch.zeros(1, 16, 8, 8)})
    with pytest.raises(ValueError, match="another model family"):
        ksample(model, encode(clip, "a"), encode(clip, ""), {"samples": torch.zeros(1, 16, 8, 8)})
