"""ComfyUI-style packs that sample, load checkpoints and LoRAs, and bring their own sampler through `comfy.sample`,
`comfy.samplers`, `comfy.sd` and `comfy.model_patcher`, loaded by the real plugin loader from a custom_nodes folder
and run by a real engine on a tiny SD1 checkpoint: they give what the built-in nodes give for the same inputs."""
from __future__ import annotations

import sys

import pytest
import torch
from safetensors.torch import save_file

from tests.fixtures.tiny_checkpoints import FULL_VOCABULARY, build_sd1
from tests.nodes.test_comfy_compat_packs import load_packs, node

# Keeps what reaches it, by key, for the test to compare (the packs' results never leave the engine otherwise).
KEEP_PACK = '''
KEPT = {}


class Keep:
    CATEGORY = "tests"
    RETURN_TYPES = ()
    FUNCTION = "keep"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"value": ("*", {}), "key": ("STRING", {"default": ""})}}

    def keep(self, value, key):
        KEPT[key] = value
        return {}


NODE_CLASS_MAPPINGS = {"LLKeep": Keep}
'''

# ComfyUI's common_ksampler, as packs copy it: the empty-latent fix, the seed's noise, comfy.sample.sample
SAMPLE_PACK = '''
import comfy.sample
import comfy.samplers


class PackKSampler:
    CATEGORY = "tests"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",), "seed": ("INT", {"default": 0, "min": 0, "max": 0xffffffffffffffff}),
            "steps": ("INT", {"default": 20, "min": 1, "max": 10000}),
            "cfg": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0}),
            "sampler_name": (comfy.samplers.KSampler.SAMPLERS,), "scheduler": (comfy.samplers.KSampler.SCHEDULERS,),
            "positive": ("CONDITIONING",), "negative": ("CONDITIONING",), "latent_image": ("LATENT",),
            "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01})}}

    def sample(self, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise):
        latent = comfy.sample.fix_empty_latent_channels(model, latent_image["samples"])
        noise = comfy.sample.prepare_noise(latent, seed, latent_image.get("batch_index"))
        samples = comfy.sample.sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, latent,
                                      denoise=denoise, noise_mask=latent_image.get("noise_mask"), seed=seed)
        out = latent_image.copy()
        out["samples"] = samples
        return (out,)


NODE_CLASS_MAPPINGS = {"LLPackKSampler": PackKSampler}
'''

# A checkpoint and a LoRA loaded as packs load them; the prompt encoded from tokens; the VAE called directly
CHECKPOINT_PACK = '''
import comfy.sd
import comfy.utils
import folder_paths
from comfy.model_patcher import ModelPatcher


class LoadWithLora:
    CATEGORY = "tests"
    RETURN_TYPES = ("MODEL", "CLIP", "VAE")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),),
                             "lora_name": (folder_paths.get_filename_list("loras"),),
                             "strength_model": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0}),
                             "strength_clip": ("FLOAT", {"default": 1.0, "min": -10.0, "max": 10.0})}}

    def load(self, ckpt_name, lora_name, strength_model, strength_clip):
        path = folder_paths.get_full_path_or_raise("checkpoints", ckpt_name)
        model, clip, vae, clip_vision = comfy.sd.load_checkpoint_guess_config(
            path, output_vae=True, output_clip=True, embedding_directory=folder_paths.get_folder_paths("embeddings"))
        assert isinstance(model, ModelPatcher) and isinstance(clip, comfy.sd.CLIP)
        assert isinstance(vae, comfy.sd.VAE) and clip_vision is None
        lora = comfy.utils.load_torch_file(folder_paths.get_full_path_or_raise("loras", lora_name), safe_load=True)
        model, clip = comfy.sd.load_lora_for_models(model, clip, lora, strength_model, strength_clip)
        return (model, clip, vae)


class EncodeTokens:
    CATEGORY = "tests"
    RETURN_TYPES = ("CONDITIONING", "CONDITIONING")
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"clip": ("CLIP",), "text": ("STRING", {"multiline": True})}}

    def encode(self, clip, text):
        tokens = clip.tokenize(text)
        cond, pooled = clip.encode_from_tokens(tokens, return_pooled=True)
        return ([[cond, {"pooled_output": pooled}]], clip.encode_from_tokens_scheduled(tokens))


class Decode:
    CATEGORY = "tests"
    RETURN_TYPES = ("IMAGE", "IMAGE")
    FUNCTION = "decode"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"vae": ("VAE",), "samples": ("LATENT",)}}

    def decode(self, vae, samples):
        return (vae.decode(samples["samples"]), vae.decode_tiled(samples["samples"], tile_x=32, tile_y=32, overlap=8))


NODE_CLASS_MAPPINGS = {"LLLoadWithLora": LoadWithLora, "LLEncodeTokens": EncodeTokens, "LLDecode": Decode}
'''

# A pack's own sampler function made a SAMPLER with comfy.samplers.KSAMPLER, run by comfy.sample.sample_custom or
# by a CFGGuider
OWN_SAMPLER_PACK = '''
import comfy.model_management
import comfy.sample
import comfy.samplers
import torch
from comfy.k_diffusion import sampling


def sample_scaled_euler(model, x, sigmas, extra_args=None, callback=None, disable=None, scale=1.0):
    """Euler steps on the probability-flow ODE, each step scaled (1.0: plain Euler)."""
    extra_args = {} if extra_args is None else extra_args
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
        x = x + (x - denoised) / sigmas[i] * (sigmas[i + 1] - sigmas[i]) * scale
    return x


class ScaledEuler:
    CATEGORY = "tests"
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.01})}}

    def get(self, scale):
        return (comfy.samplers.KSAMPLER(sample_scaled_euler, {"scale": scale}),)


class CustomSample:
    CATEGORY = "tests"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": ("MODEL",), "sampler": ("SAMPLER",), "seed": ("INT", {"default": 0, "min": 0}),
            "steps": ("INT", {"default": 4, "min": 1}), "cfg": ("FLOAT", {"default": 8.0}),
            "scheduler": (comfy.samplers.SCHEDULER_NAMES,), "positive": ("CONDITIONING",),
            "negative": ("CONDITIONING",), "latent_image": ("LATENT",), "guider": ("BOOLEAN", {"default": False})}}

    def sample(self, model, sampler, seed, steps, cfg, scheduler, positive, negative, latent_image, guider):
        latent = latent_image["samples"]
        noise = comfy.sample.prepare_noise(latent, seed)
        sigmas = comfy.samplers.KSampler(model, steps, model.load_device, "euler", scheduler).sigmas
        if guider:
            cfg_guider = comfy.samplers.CFGGuider(model)
            cfg_guider.set_conds(positive, negative)
            cfg_guider.set_cfg(cfg)
            samples = cfg_guider.sample(noise, latent, sampler, sigmas, seed=seed)
        else:
            samples = comfy.sample.sample_custom(model, noise, cfg, sampler, sigmas, positive, negative, latent,
                                                 seed=seed)
        samples = samples.to(comfy.model_management.intermediate_device())
        return ({"samples": samples},)


def sample_my_ancestral(model, x, sigmas, extra_args=None, callback=None, disable=None):
    """Euler ancestral written with k-diffusion's helpers, as sampler packs write theirs."""
    extra_args = {} if extra_args is None else extra_args
    noise_sampler = sampling.default_noise_sampler(x, seed=extra_args.get("seed"))
    s_in = x.new_ones([x.shape[0]])
    for i in sampling.trange(len(sigmas) - 1, disable=disable):
        denoised = model(x, sigmas[i] * s_in, **extra_args)
        sigma_down, sigma_up = sampling.get_ancestral_step(sigmas[i], sigmas[i + 1])
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
        if sigma_down == 0:
            x = denoised
        else:
            x = x + sampling.to_d(x, sigmas[i] * s_in, denoised) * (sigma_down - sigmas[i])
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigma_up
    return x


def sample_wrapped_dpmpp_2m(model, x, sigmas, extra_args=None, callback=None, disable=None):
    return sampling.sample_dpmpp_2m(model, x, sigmas, extra_args=extra_args, callback=callback, disable=disable)


class HelperSampler:
    CATEGORY = "tests"
    RETURN_TYPES = ("SAMPLER",)
    FUNCTION = "get"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"which": (["my_ancestral", "wrapped_dpmpp_2m"],)}}

    def get(self, which):
        function = sample_my_ancestral if which == "my_ancestral" else sample_wrapped_dpmpp_2m
        return (comfy.samplers.KSAMPLER(function),)


class HalfwayGuider(comfy.samplers.CFGGuider):
    """A plugin's own guidance: CFG at `cfg` from calc_cond_batch and cfg_function, or through sampling_function."""

    def __init__(self, model_patcher, by_hand):
        super().__init__(model_patcher)
        self.by_hand = by_hand

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        if not self.by_hand:
            return comfy.samplers.sampling_function(self.inner_model, x, timestep, self.conds.get("negative"),
                                                    self.conds.get("positive"), self.cfg, model_options, seed)
        cond, uncond = comfy.samplers.calc_cond_batch(self.inner_model, [self.conds["positive"],
                                                                         self.conds["negative"]], x, timestep,
                                                      model_options)
        return comfy.samplers.cfg_function(self.inner_model, cond, uncond, self.cfg, x, timestep, model_options,
                                           self.conds["positive"], self.conds["negative"])


class GuiderSample:
    CATEGORY = "tests"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"model": ("MODEL",), "positive": ("CONDITIONING",), "negative": ("CONDITIONING",),
                             "latent_image": ("LATENT",), "by_hand": ("BOOLEAN", {"default": True})}}

    def sample(self, model, positive, negative, latent_image, by_hand):
        guider = HalfwayGuider(model, by_hand)
        guider.set_conds(positive, negative)
        guider.set_cfg(5.0)
        latent = latent_image["samples"]
        sigmas = comfy.samplers.KSampler(model, 3, model.load_device, "euler", "normal").sigmas
        samples = guider.sample(comfy.sample.prepare_noise(latent, 11), latent,
                                comfy.samplers.sampler_object("euler"), sigmas, seed=11)
        return ({"samples": samples},)


NODE_CLASS_MAPPINGS = {"LLScaledEuler": ScaledEuler, "LLCustomSample": CustomSample, "LLHelperSampler": HelperSampler,
                       "LLGuiderSample": GuiderSample}
'''

PACKS = {"ll_keep": KEEP_PACK, "ll_sample": SAMPLE_PACK, "ll_checkpoint": CHECKPOINT_PACK,
         "ll_own_sampler": OWN_SAMPLER_PACK}
KOHYA_K = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
KOHYA_Q = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"


@pytest.fixture(scope="module")
def packs(tmp_path_factory):
    """(engine, kept values) over a base folder with a tiny SD1 checkpoint and a LoRA for it, the packs loaded."""
    base = tmp_path_factory.mktemp("model_packs")
    build_sd1(base / "models" / "checkpoints", vocab_size=FULL_VOCABULARY)
    generator = torch.Generator().manual_seed(5)
    (base / "models" / "loras").mkdir(parents=True)
    (base / "models" / "embeddings").mkdir(parents=True)
    save_file({f"{KOHYA_K}.lora_down.weight": torch.randn(2, 64, generator=generator),
               f"{KOHYA_K}.lora_up.weight": torch.randn(32, 2, generator=generator),
               f"{KOHYA_Q}.lora_down.weight": torch.randn(2, 64, generator=generator),
               f"{KOHYA_Q}.lora_up.weight": torch.randn(64, 2, generator=generator)},
              str(base / "models" / "loras" / "style.safetensors"))
    engine, reports = load_packs(base, PACKS)
    for name in PACKS:
        assert reports[name].ok, (name, reports[name].error)
    kept = next(module for name, module in sys.modules.items() if name.endswith("ll_keep")).KEPT
    kept.clear()
    return engine, kept


def run(engine, kept, prompt: dict) -> dict:
    kept.clear()
    result = engine.run(prompt)
    assert result.ok, result.error
    return dict(kept)


def text_to_image(**sampler_inputs) -> dict:
    """Checkpoint, prompts and an empty latent (nodes 1-4); the sampler nodes are the caller's."""
    return {"1": node("CheckpointLoaderSimple", ckpt_name="tiny_sd1.safetensors"),
            "2": node("CLIPTextEncode", clip=["1", 1], text="a (red:1.3) cat"),
            "3": node("CLIPTextEncode", clip=["1", 1], text="blurry"),
            "4": node("EmptyLatentImage", width=64, height=64, batch_size=2), **sampler_inputs}


COMMON = {"model": ["1", 0], "seed": 11, "steps": 3, "cfg": 5.0, "positive": ["2", 0], "negative": ["3", 0],
          "latent_image": ["4", 0]}


@pytest.mark.parametrize("sampler_name, scheduler, denoise", [("euler_ancestral", "karras", 1.0),
                                                              ("dpm_2", "normal", 0.6)])
def test_a_pack_sampling_with_comfy_sample_gives_the_ksampler_node_latent(packs, sampler_name, scheduler, denoise):
    engine, kept = packs
    settings = {**COMMON, "sampler_name": sampler_name, "scheduler": scheduler, "denoise": denoise}
    got = run(engine, kept, text_to_image(
        **{"10": node("KSampler", **settings), "11": node("LLKeep", value=["10", 0], key="node"),
           "20": node("LLPackKSampler", **settings), "21": node("LLKeep", value=["20", 0], key="pack")}))
    assert got["node"]["samples"].shape == (2, 4, 8, 8)
    assert torch.equal(got["pack"]["samples"], got["node"]["samples"])


def test_a_pack_sampling_a_masked_latent_from_a_batch_gives_the_ksampler_node_latent(packs):
    """The noise mask (inpainting) and the batch index (the seed's noise of the original slot) reach comfy.sample."""
    engine, kept = packs
    prompt = text_to_image(**{
        "5": node("SolidMask", value=0.6, width=64, height=64),
        "7": node("KSampler", **{**COMMON, "steps": 2}, sampler_name="euler", scheduler="normal", denoise=1.0),
        "8": node("SetLatentNoiseMask", samples=["7", 0], mask=["5", 0]),
        "9": node("LatentFromBatch", samples=["8", 0], batch_index=1, length=1)})
    settings = {**COMMON, "latent_image": ["9", 0], "sampler_name": "euler_ancestral", "scheduler": "normal",
                "denoise": 0.7}
    prompt.update({"10": node("KSampler", **settings), "11": node("LLKeep", value=["10", 0], key="node"),
                   "20": node("LLPackKSampler", **settings), "21": node("LLKeep", value=["20", 0], key="pack")})
    got = run(engine, kept, prompt)
    assert got["node"]["batch_index"] == [1] and "noise_mask" in got["node"]
    assert torch.equal(got["pack"]["samples"], got["node"]["samples"])


def test_a_pack_loading_a_checkpoint_and_a_lora_with_comfy_sd_gives_the_loader_nodes_image(packs):
    engine, kept = packs
    prompt = {"1": node("CheckpointLoaderSimple", ckpt_name="tiny_sd1.safetensors"),
              "2": node("LoraLoader", model=["1", 0], clip=["1", 1], lora_name="style.safetensors",
                        strength_model=0.7, strength_clip=1.5),
              "5": node("LLLoadWithLora", ckpt_name="tiny_sd1.safetensors", lora_name="style.safetensors",
                        strength_model=0.7, strength_clip=1.5),
              "6": node("EmptyLatentImage", width=64, height=64, batch_size=1)}
    for prefix, (model, clip, vae) in {"built_in": (["2", 0], ["2", 1], ["1", 2]),
                                       "pack": (["5", 0], ["5", 1], ["5", 2])}.items():
        n = 100 if prefix == "pack" else 200
        prompt.update({
            f"{n}": node("CLIPTextEncode", clip=clip, text="a (red:1.3) cat"),
            f"{n + 1}": node("CLIPTextEncode", clip=clip, text="blurry"),
            f"{n + 2}": node("KSampler", model=model, seed=3, steps=2, cfg=4.0, sampler_name="euler",
                             scheduler="normal", positive=[f"{n}", 0], negative=[f"{n + 1}", 0],
                             latent_image=["6", 0], denoise=1.0),
            f"{n + 3}": node("VAEDecode", samples=[f"{n + 2}", 0], vae=vae),
            f"{n + 4}": node("LLKeep", value=[f"{n + 3}", 0], key=prefix)})
    # the plain checkpoint's image, to show that the LoRA changes it
    prompt.update({"300": node("CLIPTextEncode", clip=["1", 1], text="a (red:1.3) cat"),
                   "301": node("KSampler", model=["1", 0], seed=3, steps=2, cfg=4.0, sampler_name="euler",
                               scheduler="normal", positive=["300", 0], negative=["201", 0],
                               latent_image=["6", 0], denoise=1.0),
                   "302": node("VAEDecode", samples=["301", 0], vae=["1", 2]),
                   "303": node("LLKeep", value=["302", 0], key="plain")})
    got = run(engine, kept, prompt)
    assert got["pack"].shape == (1, 16, 16, 3)  # the tiny VAE halves once
    assert torch.allclose(got["pack"], got["built_in"], atol=1e-6)
    assert (got["pack"] - got["plain"]).abs().max() > 1e-3


def test_a_pack_encoding_tokens_and_decoding_with_the_vae_gives_the_nodes_results(packs):
    engine, kept = packs
    got = run(engine, kept, {
        "1": node("CheckpointLoaderSimple", ckpt_name="tiny_sd1.safetensors"),
        "2": node("CLIPSetLastLayer", clip=["1", 1], stop_at_clip_layer=-2),
        "3": node("CLIPTextEncode", clip=["2", 0], text="a (red:1.3) cat, embedding:missing"),
        "4": node("LLEncodeTokens", clip=["2", 0], text="a (red:1.3) cat, embedding:missing"),
        "5": node("LLKeep", value=["3", 0], key="node"), "6": node("LLKeep", value=["4", 0], key="tokens"),
        "7": node("LLKeep", value=["4", 1], key="scheduled"),
        "8": node("EmptyLatentImage", width=512, height=64, batch_size=1),  # tiles of 32 latent pixels
        "9": node("KSampler", model=["1", 0], seed=1, steps=1, cfg=1.0, sampler_name="euler", scheduler="normal",
                  positive=["3", 0], negative=["3", 0], latent_image=["8", 0], denoise=1.0),
        "10": node("VAEDecode", samples=["9", 0], vae=["1", 2]), "11": node("LLKeep", value=["10", 0], key="vae"),
        "12": node("VAEDecodeTiled", samples=["9", 0], vae=["1", 2], tile_size=64, overlap=16, temporal_size=64,  # / 2
                   temporal_overlap=8),
        "13": node("LLKeep", value=["12", 0], key="vae_tiled"),
        "14": node("LLDecode", vae=["1", 2], samples=["9", 0]),
        "15": node("LLKeep", value=["14", 0], key="decoded"), "16": node("LLKeep", value=["14", 1], key="tiled")})
    (expected, expected_options), = got["node"]
    for key in ("tokens", "scheduled"):
        (cond, options), = got[key]
        assert torch.equal(cond, expected) and torch.equal(options["pooled_output"], expected_options["pooled_output"])
    assert torch.equal(got["decoded"], got["vae"])
    assert torch.allclose(got["tiled"], got["vae_tiled"], atol=1e-6)
    assert not torch.allclose(got["tiled"], got["vae"], atol=1e-4)  # it did decode in tiles


@pytest.mark.parametrize("guider", [False, True])
def test_a_pack_sampler_function_wrapped_by_ksampler_runs_as_a_built_in_sampler(packs, guider):
    engine, kept = packs
    custom = {**COMMON, "scheduler": "karras", "guider": guider}
    del custom["seed"]
    got = run(engine, kept, text_to_image(**{
        "10": node("KSampler", **COMMON, sampler_name="euler", scheduler="karras", denoise=1.0),
        "11": node("LLKeep", value=["10", 0], key=f"euler {guider}"),  # a new key: not cached from the other run
        "20": node("LLScaledEuler", scale=1.0), "21": node("LLCustomSample", sampler=["20", 0], seed=11, **custom),
        "22": node("LLKeep", value=["21", 0], key="scaled_1"),
        "30": node("LLScaledEuler", scale=0.5), "31": node("LLCustomSample", sampler=["30", 0], seed=11, **custom),
        "32": node("LLKeep", value=["31", 0], key="scaled_half")}))
    euler = got[f"euler {guider}"]["samples"]
    assert torch.allclose(got["scaled_1"]["samples"], euler, atol=1e-5)
    assert (got["scaled_half"]["samples"] - euler).abs().max() > 1e-2


@pytest.fixture
def loaded(packs):
    """(MODEL, CLIP, VAE) of the tiny checkpoint through comfy.sd, with the installation's folders current."""
    from graph_engine import using_folders

    engine, _ = packs
    import comfy.sd

    with using_folders(engine.folders):
        path = engine.folders.models / "checkpoints" / "tiny_sd1.safetensors"
        yield comfy.sd.load_checkpoint_guess_config(str(path), output_clip=True, output_vae=True)[:3]


def test_calculate_sigmas_reads_a_schedule_or_a_model_sampling_table(loaded):
    import types

    import comfy.samplers

    from nodes.runtime.sampling import karras_sigmas

    model = loaded[0]
    schedule = model.schedule
    expected = karras_sigmas(5, float(schedule.sigma_min), float(schedule.sigma_max))
    assert torch.equal(comfy.samplers.calculate_sigmas(schedule, "karras", 5), expected)
    model_sampling = types.SimpleNamespace(sigmas=schedule.sigmas.clone())  # ComfyUI's table of sigmas
    assert torch.equal(comfy.samplers.calculate_sigmas(model_sampling, "normal", 4),
                       comfy.samplers.calculate_sigmas(schedule, "normal", 4))
    assert torch.equal(comfy.samplers.KSampler(model, 4, "cpu", "euler", "normal").sigmas,
                       comfy.samplers.calculate_sigmas(schedule, "normal", 4))
    with pytest.raises(ValueError, match="unknown scheduler 'nope'"):
        comfy.samplers.calculate_sigmas(schedule, "nope", 4)


def test_model_values_are_model_patchers_with_their_devices_and_size(loaded):
    import comfy.model_patcher

    from nodes.runtime.devices import model_manager

    model = loaded[0]
    assert isinstance(model, comfy.model_patcher.ModelPatcher) and isinstance(model.clone(),
                                                                               comfy.model_patcher.ModelPatcher)
    assert model.load_device == model_manager().compute_device
    assert model.offload_device == model_manager().offload_device
    tensors = [*model.unet.parameters(), *model.unet.buffers()]
    assert model.model_size() == sum(t.numel() * t.element_size() for t in tensors)


def test_clip_tokens_are_comfyui_s_and_missing_ones_are_named(loaded):
    import comfy.sd

    from graph_engine import InvalidNodeInput

    clip = loaded[1]
    tokens = clip.tokenize("a (red:1.3) cat")
    assert list(tokens) == ["l"] and len(tokens["l"]) == 1 and len(tokens["l"][0]) == 77
    chunk = tokens["l"][0]
    assert chunk[0] == (49406, 1.0) and [weight for _, weight in chunk[1:4]] == [1.0, 1.3, 1.0]
    assert chunk[4][0] == 49407 and all(token == 49407 for token, _ in chunk[4:])  # CLIP-L pads with its end
    with_ids = clip.tokenize("a (red:1.3) cat", return_word_ids=True)["l"][0]
    assert [word for _, _, word in with_ids[:5]] == [0, 1, 2, 3, 0]
    with pytest.raises(InvalidNodeInput, match="no 'l' entry"):
        clip.encode_from_tokens({"g": tokens["l"]})
    clone = clip.clone()
    clone.clip_layer(-2)
    assert isinstance(clone, comfy.sd.CLIP) and clone.clip_skip == -2 and clip.clip_skip is None


def test_noise_and_the_empty_latent_fix_are_comfyui_s():
    import comfy.sample

    latent = torch.zeros(3, 4, 2, 2)
    generator = torch.Generator().manual_seed(42)
    draws = [torch.randn(1, 4, 2, 2, generator=generator) for _ in range(3)]
    assert torch.equal(comfy.sample.prepare_noise(latent, 42), torch.cat(draws))  # one draw of the whole shape
    assert torch.equal(comfy.sample.prepare_noise(latent[:2], 42, [2, 0]), torch.cat([draws[2], draws[0]]))

    class FourChannels:
        latent_channels = 4

    fixed = comfy.sample.fix_empty_latent_channels(FourChannels(), torch.zeros(1, 3, 5, 6))
    assert fixed.shape == (1, 4, 5, 6) and not fixed.any()
    used = torch.ones(1, 3, 5, 6)
    assert comfy.sample.fix_empty_latent_channels(FourChannels(), used) is used


def test_a_lora_state_dict_that_is_no_lora_is_refused_with_where_it_belongs(loaded):
    import comfy.sd

    from nodes.runtime.lora.lora_file import NotALoraError

    model, clip, _ = loaded
    with pytest.raises(NotALoraError, match="full checkpoint"):
        comfy.sd.load_lora_for_models(model, clip, {"model.diffusion_model.x.weight": torch.zeros(1)}, 1.0, 1.0)
    assert comfy.sd.load_lora_for_models(None, None, {}, 1.0, 1.0) == (None, None)


@pytest.mark.parametrize("which, built_in", [("my_ancestral", "euler_ancestral"), ("wrapped_dpmpp_2m", "dpmpp_2m")])
def test_a_pack_sampler_written_with_k_diffusion_helpers_gives_the_built_in_sampler_latent(packs, which, built_in):
    engine, kept = packs
    custom = {**COMMON, "scheduler": "normal", "guider": False}
    del custom["seed"]
    got = run(engine, kept, text_to_image(**{
        "10": node("KSampler", **COMMON, sampler_name=built_in, scheduler="normal", denoise=1.0),
        "11": node("LLKeep", value=["10", 0], key=f"built-in {built_in}"),
        "20": node("LLHelperSampler", which=which), "21": node("LLCustomSample", sampler=["20", 0], seed=11, **custom),
        "22": node("LLKeep", value=["21", 0], key=which)}))
    assert torch.allclose(got[which]["samples"], got[f"built-in {built_in}"]["samples"], atol=1e-5)


def test_a_pack_guider_overriding_predict_noise_steers_sampling_as_cfg_does(packs):
    engine, kept = packs
    prompt = text_to_image(**{
        "10": node("KSampler", **{**COMMON, "steps": 3, "cfg": 5.0}, sampler_name="euler", scheduler="normal",
                   denoise=1.0),
        "11": node("LLKeep", value=["10", 0], key="ksampler")})
    for n, by_hand in ((20, True), (30, False)):
        prompt[str(n)] = node("LLGuiderSample", model=["1", 0], positive=["2", 0], negative=["3", 0],
                              latent_image=["4", 0], by_hand=by_hand)
        prompt[str(n + 1)] = node("LLKeep", value=[str(n), 0], key=f"by hand {by_hand}")
    got = run(engine, kept, prompt)
    expected = got["ksampler"]["samples"]
    assert torch.allclose(got["by hand False"]["samples"], expected, atol=1e-5)
    # cond and uncond run as two UNet calls here, as one batch in the node: on some CPUs the rounding differs
    # (latents reach ~100)
    assert torch.allclose(got["by hand True"]["samples"], expected, rtol=1e-5, atol=1e-3)
