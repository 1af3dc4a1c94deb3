"""AUTOMATIC1111 `parameters` texts read back into workflows: parsing, sampler names, models found by hash or name,
LoRA tags, clip skip, hires fix; the result validates and runs on the tiny checkpoint, and a text written by our
SaveImage comes back as a graph with the same settings."""
from __future__ import annotations

import pytest

from graph_engine import Folders, WorkflowFormatError
from nodes.a1111 import parse_infotext, prompt_from_parameters
from nodes.a1111.infotext_writer import settings_from_graph
from nodes.a1111.workflow_builder import sampler_choice, with_embedding_names
from model_library.hashes import compute_hashes

A1111_TEXT = """a castle on a hill, (golden hour:1.2),
<lora:ink:0.6:0.8>, watercolor
Negative prompt: blurry,
lowres, easynegative
Steps: 3, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, Size: 64x48, Model hash: {hash}, \
Model: {model}, Clip skip: 2, Lora hashes: "ink: {lora_hash}", Version: v1.10.1"""


def save_node(prompt: dict) -> str:
    return next(node_id for node_id, node in prompt.items() if node["class_type"] == "SaveImage")


def nodes_of(prompt: dict, class_type: str) -> list[dict]:
    return [node for node in prompt.values() if node["class_type"] == class_type]


def test_parse_splits_prompt_negative_fields_and_lora_tags():
    info = parse_infotext(A1111_TEXT.format(hash="0123456789", model="m", lora_hash="abcdefabcdef"))
    assert info.prompt == "a castle on a hill, (golden hour:1.2), watercolor"  # the tag and its comma go
    assert info.negative_prompt == "blurry,\nlowres, easynegative"
    assert info.fields["Sampler"] == "DPM++ 2M" and info.fields["Size"] == "64x48"
    assert info.fields["Lora hashes"] == "ink: abcdefabcdef"  # JSON-quoted value, comma and colon inside
    assert [(t.name, t.text_encoder, t.unet) for t in info.loras] == [("ink", 0.6, 0.8)]


def test_a_last_line_with_fewer_than_three_fields_is_prompt_text():
    info = parse_infotext("photo of a cat\nstyle: noir, mood: calm")
    assert info.prompt == "photo of a cat\nstyle: noir, mood: calm" and info.fields == {}


def test_a_lora_tag_with_a_word_for_a_weight_is_refused_by_name(tmp_path):
    with pytest.raises(WorkflowFormatError, match="<lora:ink:strong>"):
        prompt_from_parameters("a cat <lora:ink:strong>\nSteps: 3, Seed: 1, Size: 64x64", Folders.under(tmp_path))


@pytest.mark.parametrize("written, schedule, expected", [
    ("Euler a", None, ("euler_ancestral", "normal")),
    ("DPM++ 2M Karras", None, ("dpmpp_2m", "karras")),  # A1111 before 1.9: the schedule in the name
    ("DPM++ 2M", "Karras", ("dpmpp_2m", "karras")),
    ("DPM++ 2M SDE", "Exponential", ("dpmpp_2m_sde", "exponential")),
    ("DPM++ SDE", None, ("dpmpp_sde", "normal")),  # not the _gpu twin
    ("DDIM", None, ("ddim", "ddim_uniform")),
    ("UniPC", "Automatic", ("uni_pc", "normal")),
    ("dpmpp_2m", "SGM Uniform", ("dpmpp_2m", "sgm_uniform")),  # a ComfyUI name written as is
])
def test_sampler_names_map_to_comfyui_sampler_and_scheduler(written, schedule, expected):
    choice = sampler_choice(written, schedule)
    assert (choice.sampler, choice.scheduler) == expected


def test_an_unknown_sampler_is_refused_with_the_known_names():
    with pytest.raises(WorkflowFormatError, match="'PLMS'.*Euler a"):
        sampler_choice("PLMS", None)


def test_bare_embedding_words_become_embedding_references():
    text = with_embedding_names("easynegative, (bad-hands:1.2), embedding:easynegative, easynegatives",
                                {"easynegative": "EasyNegative", "bad-hands": "bad-hands"})
    assert text == "embedding:EasyNegative, (embedding:bad-hands:1.2), embedding:easynegative, easynegatives"


@pytest.fixture
def installed(studio):
    base, engine, checkpoint, lora = studio
    return engine, checkpoint, lora


def test_every_setting_lands_on_its_node_and_the_graph_runs(installed):
    engine, checkpoint, lora = installed
    hashes = compute_hashes(checkpoint)
    text = A1111_TEXT.format(hash=hashes.model_hash, model="renamed-elsewhere",
                             lora_hash=compute_hashes(lora).lora_hash)
    prompt = prompt_from_parameters(text, engine.folders)

    (loader,) = nodes_of(prompt, "CheckpointLoaderSimple")
    assert loader["inputs"]["ckpt_name"] == checkpoint.name  # found by hash although the name differs
    (lora_node,) = nodes_of(prompt, "LoraLoader")
    assert lora_node["inputs"] | {"model": None, "clip": None} == {
        "model": None, "clip": None, "lora_name": "styles/ink.safetensors", "strength_model": 0.8,
        "strength_clip": 0.6}
    (skip,) = nodes_of(prompt, "CLIPSetLastLayer")
    assert skip["inputs"]["stop_at_clip_layer"] == -2
    (sampler,) = nodes_of(prompt, "KSampler")
    assert {k: sampler["inputs"][k] for k in ("seed", "steps", "cfg", "sampler_name", "scheduler", "denoise")} == {
        "seed": 1234, "steps": 3, "cfg": 6.5, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0}
    (latent,) = nodes_of(prompt, "EmptyLatentImage")
    assert (latent["inputs"]["width"], latent["inputs"]["height"]) == (64, 48)
    texts = {node["_meta"]["title"]: node["inputs"]["text"] for node in nodes_of(prompt, "CLIPTextEncode")}
    assert texts == {"Prompt": "a castle on a hill, (golden hour:1.2), watercolor",
                     "Negative prompt": "blurry,\nlowres, easynegative"}

    result = engine.run(prompt)
    assert result.status == "success", result.error
    assert len(result.outputs[save_node(prompt)]["images"]) == 1


def test_a_checkpoint_is_found_by_name_when_no_file_has_the_hash(installed):
    engine, checkpoint, _ = installed
    prompt = prompt_from_parameters(f"a cat\nSteps: 3, Seed: 1, Size: 64x64, Model hash: ffffffffff, "
                                    f"Model: {checkpoint.stem}", engine.folders)
    assert nodes_of(prompt, "CheckpointLoaderSimple")[0]["inputs"]["ckpt_name"] == checkpoint.name


def test_missing_models_are_named_with_the_folder_to_put_them_in(installed, studio):
    base, engine = studio[0], installed[0]
    with pytest.raises(WorkflowFormatError) as raised:
        prompt_from_parameters("a cat\nSteps: 3, Seed: 1, Size: 64x64, Model hash: ffffffffff, Model: dreamshaper_8",
                               engine.folders)
    assert "'dreamshaper_8' (hash ffffffffff) is not installed" in str(raised.value)
    assert str(base / "models" / "checkpoints") in str(raised.value)
    with pytest.raises(WorkflowFormatError, match="lora 'detail_tweaker'.*loras"):
        prompt_from_parameters("a cat <lora:detail_tweaker:1>\nSteps: 3, Seed: 1, Size: 64x64", engine.folders)


def test_hires_fix_becomes_a_latent_upscale_and_a_second_sampler(installed):
    prompt = prompt_from_parameters("a cat\nSteps: 4, Sampler: Euler, Seed: 9, Size: 64x64, Denoising strength: 0.45, "
                                    "Hires upscale: 1.5, Hires steps: 2, Hires upscaler: Latent (nearest-exact)",
                                    installed[0].folders)
    first, second = nodes_of(prompt, "KSampler")
    (upscale,) = nodes_of(prompt, "LatentUpscaleBy")
    assert upscale["inputs"]["samples"][0] == next(i for i, n in prompt.items() if n is first)
    assert (upscale["inputs"]["scale_by"], upscale["inputs"]["upscale_method"]) == (1.5, "nearest-exact")
    assert second["inputs"]["latent_image"][0] == next(i for i, n in prompt.items() if n is upscale)
    assert (first["inputs"]["denoise"], second["inputs"]["denoise"]) == (1.0, 0.45)
    assert (first["inputs"]["steps"], second["inputs"]["steps"]) == (4, 2)


def test_our_own_parameters_text_comes_back_with_the_same_settings(installed):
    """SaveImage's A1111 text (written from the graph) read back: the settings the writer sees in both graphs agree."""
    from PIL import Image

    engine, checkpoint, lora = installed
    original = prompt_from_parameters(A1111_TEXT.format(
        hash=compute_hashes(checkpoint).model_hash, model="x", lora_hash=compute_hashes(lora).lora_hash),
        engine.folders)
    result = engine.run(original)
    assert result.status == "success", result.error
    save_id = save_node(original)
    saved = result.outputs[save_id]["images"][0]
    with Image.open(engine.folders.output / saved["subfolder"] / saved["filename"]) as png:
        text = png.text["parameters"]
    again = prompt_from_parameters(text, engine.folders)
    before, after = settings_from_graph(original, save_id), settings_from_graph(again, save_node(again))
    assert after.prompt == before.prompt and after.negative_prompt == before.negative_prompt
    assert (after.steps, after.sampler, after.scheduler, after.cfg, after.seed, after.checkpoint, after.loras) == \
        (before.steps, before.sampler, before.scheduler, before.cfg, before.seed, before.checkpoint, before.loras)
