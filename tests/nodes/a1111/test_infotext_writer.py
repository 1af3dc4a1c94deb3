"""A1111's `parameters` text: built from API-format graphs, and written by SaveImage through the real engine on a
tiny checkpoint with a LoRA, read back with Pillow and parsed the way A1111's PNG Info parses it."""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
import struct
import uuid
from pathlib import Path

from graph_engine import Folders
from nodes.a1111.infotext_writer import infotext, parameters_for_image, settings_from_graph
from tests.fixtures.example_workflows import example_prompt

UI_WORKFLOW = {"last_node_id": 9, "nodes": [{"id": 9, "type": "SaveImage"}], "links": [], "version": 0.4}
FIELD = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def parse(text: str) -> tuple[str, str | None, dict[str, str]]:
    """(prompt, negative prompt, fields) from a `parameters` text, as A1111's reader splits it."""
    *head, last = text.split("\n")
    fields = {}
    for key, value in FIELD.findall(last):
        fields[key.strip()] = json.loads(value) if value.startswith('"') else value
    negative_at = next((i for i, line in enumerate(head) if line.startswith("Negative prompt: ")), None)
    if negative_at is None:
        return "\n".join(head), None, fields
    negative = "\n".join(head[negative_at:])[len("Negative prompt: "):]
    return "\n".join(head[:negative_at]), negative, fields


def standard_graph() -> dict:
    graph = example_prompt("text_to_image.json")
    graph["4"]["inputs"]["ckpt_name"] = "sd15/dreamy.safetensors"
    graph["3"]["inputs"].update(seed=42, steps=25, cfg=7.0, sampler_name="euler_ancestral", scheduler="karras")
    graph["6"]["inputs"]["text"] = "a lighthouse at dusk"
    graph["7"]["inputs"]["text"] = "blurry, lowres"
    return graph


def with_loras(graph: dict) -> dict:
    graph["20"] = {"class_type": "LoraLoader", "inputs": {
        "model": ["4", 0], "clip": ["4", 1], "lora_name": "styles/ink.safetensors",
        "strength_model": 0.8, "strength_clip": 0.8}}
    graph["21"] = {"class_type": "LoraLoaderModelOnly", "inputs": {
        "model": ["20", 0], "lora_name": "detail.safetensors", "strength_model": 1.0}}
    graph["3"]["inputs"]["model"] = ["21", 0]
    graph["6"]["inputs"]["clip"] = graph["7"]["inputs"]["clip"] = ["20", 1]
    return graph


def text_of(graph: dict, node: str = "9", width: int = 512, height: int = 768, **hashes) -> str:
    settings = settings_from_graph(graph, node)
    assert settings is not None
    return infotext(settings, width, height, hashes.get("model_hash"), hashes.get("lora_hashes"))


def test_standard_text_to_image_graph():
    text = text_of(standard_graph(), model_hash="0123456789")
    assert text == ("a lighthouse at dusk\nNegative prompt: blurry, lowres\n"
                    "Steps: 25, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 42, Size: 512x768, "
                    "Model hash: 0123456789, Model: dreamy, Version: Latentloom")


def test_loras_become_prompt_tags_and_lora_hashes_in_chain_order():
    text = text_of(with_loras(standard_graph()), model_hash="0123456789",
                   lora_hashes={"styles/ink.safetensors": "aaaaaaaaaaaa", "detail.safetensors": "bbbbbbbbbbbb"})
    prompt, negative, fields = parse(text)
    assert prompt == "a lighthouse at dusk, <lora:ink:0.8>, <lora:detail:0:1>"  # model-only: text encoder 0
    assert negative == "blurry, lowres"
    assert fields["Lora hashes"] == "ink: aaaaaaaaaaaa, detail: bbbbbbbbbbbb"
    assert 'Lora hashes: "ink: aaaaaaaaaaaa, detail: bbbbbbbbbbbb"' in text
    assert list(fields)[-2:] == ["Lora hashes", "Version"]


def test_hires_fix_chain_reports_the_last_sampler_and_its_denoise():
    graph = standard_graph()
    graph["10"] = {"class_type": "LatentUpscale", "inputs": {"samples": ["3", 0], "upscale_method": "nearest-exact",
                                                             "width": 1024, "height": 1536, "crop": "disabled"}}
    graph["11"] = copy.deepcopy(graph["3"])
    graph["11"]["inputs"].update(latent_image=["10", 0], seed=7, steps=12, denoise=0.55, sampler_name="dpmpp_2m",
                                 scheduler="normal", cfg=6.5)
    graph["8"]["inputs"]["samples"] = ["11", 0]
    _, _, fields = parse(text_of(graph, width=1024, height=1536))
    assert (fields["Steps"], fields["Sampler"], fields["Schedule type"], fields["CFG scale"], fields["Seed"]) == \
        ("12", "DPM++ 2M", "Normal", "6.5", "7")
    assert fields["Size"] == "1024x1536" and fields["Denoising strength"] == "0.55"
    assert "Denoising strength" not in parse(text_of(standard_graph()))[2]  # full denoise is not written


def test_ksampler_advanced_uses_noise_seed():
    graph = standard_graph()
    inputs = graph["3"]["inputs"]
    graph["3"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "model": inputs["model"], "add_noise": "enable", "noise_seed": 99, "steps": 30, "cfg": 5.0,
        "sampler_name": "dpmpp_2m_sde_gpu", "scheduler": "exponential", "positive": inputs["positive"],
        "negative": inputs["negative"], "latent_image": inputs["latent_image"], "start_at_step": 0,
        "end_at_step": 10000, "return_with_leftover_noise": "disable"}}
    prompt, negative, fields = parse(text_of(graph))
    assert (prompt, negative) == ("a lighthouse at dusk", "blurry, lowres")
    assert (fields["Seed"], fields["Steps"], fields["CFG scale"]) == ("99", "30", "5")
    assert (fields["Sampler"], fields["Schedule type"]) == ("DPM++ 2M SDE", "Exponential")


def test_texts_and_numbers_through_primitive_nodes_and_unknown_names_as_written():
    graph = standard_graph()
    graph["30"] = {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "castle\non a hill"}}
    graph["31"] = {"class_type": "PrimitiveInt", "inputs": {"value": 1234}}
    graph["6"]["inputs"]["text"] = ["30", 0]
    graph["3"]["inputs"].update(seed=["31", 0], sampler_name="my_plugin_sampler", scheduler="ddim_uniform")
    prompt, _, fields = parse(text_of(graph))
    assert prompt == "castle\non a hill" and fields["Seed"] == "1234"
    assert (fields["Sampler"], fields["Schedule type"]) == ("my_plugin_sampler", "DDIM")


def test_a_text_that_cannot_be_known_is_left_out():
    graph = standard_graph()
    graph["30"] = {"class_type": "StringConcatenate", "inputs": {"string_a": "x", "string_b": "y", "delimiter": ""}}
    graph["6"]["inputs"]["text"] = ["30", 0]
    text = text_of(graph)
    prompt, negative, fields = parse(text)
    assert prompt == "" and negative == "blurry, lowres" and fields["Seed"] == "42"
    assert text.startswith("Negative prompt: ")


def test_conditioning_combine_joins_texts_and_controlnet_keeps_sides():
    graph = standard_graph()
    graph["40"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "stormy sea", "clip": ["4", 1]}}
    graph["41"] = {"class_type": "ConditioningSetArea", "inputs": {
        "conditioning": ["40", 0], "width": 64, "height": 64, "x": 0, "y": 0, "strength": 1.0}}
    graph["42"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["6", 0],
                                                                   "conditioning_2": ["41", 0]}}
    graph["43"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["42", 0], "negative": ["7", 0], "control_net": ["50", 0], "image": ["51", 0],
        "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}}
    graph["3"]["inputs"].update(positive=["43", 0], negative=["43", 1])
    prompt, negative, _ = parse(text_of(graph))
    assert prompt == "a lighthouse at dusk, stormy sea"
    assert negative == "blurry, lowres"


def test_prompts_are_followed_through_inpainting_and_instruct_pix2pix_conditioning():
    graph = standard_graph()
    graph["44"] = {"class_type": "InpaintModelConditioning", "inputs": {
        "positive": ["6", 0], "negative": ["7", 0], "vae": ["4", 2], "pixels": ["52", 0], "mask": ["52", 1],
        "noise_mask": True}}
    graph["45"] = {"class_type": "InstructPixToPixConditioning", "inputs": {
        "positive": ["44", 0], "negative": ["44", 1], "vae": ["4", 2], "pixels": ["52", 0]}}
    graph["3"]["inputs"].update(positive=["45", 0], negative=["45", 1], latent_image=["44", 2])
    prompt, negative, _ = parse(text_of(graph))
    assert (prompt, negative) == ("a lighthouse at dusk", "blurry, lowres")


def test_commas_quotes_colons_and_newlines_survive_a_round_trip():
    graph = with_loras(standard_graph())
    graph["6"]["inputs"]["text"] = 'a "red", big: cat\n(masterpiece:1.2)'
    graph["4"]["inputs"]["ckpt_name"] = 'odd, "named": model.safetensors'
    graph["20"]["inputs"]["lora_name"] = "a,b:c.safetensors"
    text = text_of(graph, model_hash="0123456789",
                   lora_hashes={"a,b:c.safetensors": "cccccccccccc", "detail.safetensors": "dddddddddddd"})
    prompt, negative, fields = parse(text)
    assert prompt == 'a "red", big: cat\n(masterpiece:1.2), <lora:a,b:c:0.8>, <lora:detail:0:1>'
    assert fields["Model"] == 'odd, "named": model' and fields["Model hash"] == "0123456789"
    assert fields["Lora hashes"] == "abc: cccccccccccc, detail: dddddddddddd"  # A1111 drops ':' and ','
    assert fields["Seed"] == "42" and fields["Version"] == "Latentloom"


def test_no_sampler_upstream_gives_no_text_and_broken_graphs_never_raise(tmp_path):
    folders = Folders.under(tmp_path)
    graph = {"1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
             "9": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "p"}}}
    assert settings_from_graph(graph, "9") is None
    assert parameters_for_image(graph, "9", 8, 8, folders) is None
    assert parameters_for_image(None, "9", 8, 8, folders) is None
    assert parameters_for_image(standard_graph(), None, 8, 8, folders) is None
    looped = standard_graph()
    looped["4"]["inputs"]["ckpt_name"] = ["3", 0]  # nonsense: a loop and a non-text name
    looped["6"] = {"class_type": "CLIPTextEncode", "inputs": "not a dict"}
    text = parameters_for_image(looped, "9", 8, 8, folders)
    assert text is not None and "Model:" not in text and parse(text)[2]["Steps"] == "25"


def test_links_given_as_tuples_are_followed_as_validation_follows_them():
    graph = with_loras(standard_graph())
    as_tuples = {node_id: {**node, "inputs": {name: tuple(value) if isinstance(value, list) else value
                                              for name, value in node["inputs"].items()}}
                 for node_id, node in graph.items()}  # as a Python caller may build the prompt
    assert text_of(as_tuples) == text_of(graph)
    assert text_of(as_tuples).startswith("a lighthouse at dusk, <lora:ink:0.8>, <lora:detail:0:1>\nNegative prompt: blurry")


def test_a_missing_model_file_leaves_out_only_its_hash(tmp_path):
    text = parameters_for_image(with_loras(standard_graph()), "9", 64, 64, Folders.under(tmp_path))
    _, _, fields = parse(text)
    assert fields["Model"] == "dreamy" and "Model hash" not in fields and "Lora hashes" not in fields
    assert "<lora:ink:0.8>" in text


def test_a_model_file_that_cannot_be_hashed_is_one_warning_not_one_per_save(caplog, tmp_path):
    graph, folders = with_loras(standard_graph()), Folders.under(tmp_path)
    gone = f"removed-{uuid.uuid4().hex}.safetensors"  # a name of this test alone: each file is named once a process
    graph["4"]["inputs"]["ckpt_name"] = gone
    with caplog.at_level(logging.WARNING, logger="nodes.a1111.infotext_writer"):
        texts = [parameters_for_image(graph, "9", 64, 64, folders) for _save in range(2)]
    assert all(text is not None and "Model hash" not in parse(text)[2] for text in texts)
    about_the_checkpoint = [record.getMessage() for record in caplog.records
                            if record.levelno == logging.WARNING and gone in record.getMessage()]
    assert len(about_the_checkpoint) == 1
    assert "Model hash of checkpoint" in about_the_checkpoint[0]
    assert f"'{gone}' is not in the checkpoints folder" in about_the_checkpoint[0]  # the reason

    caplog.clear()
    other = f"removed-{uuid.uuid4().hex}.safetensors"
    graph["4"]["inputs"]["ckpt_name"] = other
    with caplog.at_level(logging.WARNING, logger="nodes.a1111.infotext_writer"):
        parameters_for_image(graph, "9", 64, 64, folders)
    assert [record for record in caplog.records if other in record.getMessage()]  # each file is named


# --- end to end: the engine, a tiny checkpoint, a kohya LoRA, the PNG read back ---------------------------------

def tensor_bytes_sha256(path: Path) -> str:
    data = path.read_bytes()
    (header,) = struct.unpack("<Q", data[:8])
    return hashlib.sha256(data[8 + header:]).hexdigest()


def test_save_image_writes_parameters_that_a1111_readers_parse(studio):
    from PIL import Image

    base, engine, checkpoint, lora = studio
    graph = standard_graph()
    graph["4"]["inputs"]["ckpt_name"] = checkpoint.name
    graph["5"]["inputs"].update(width=64, height=48)
    graph["3"]["inputs"].update(steps=2, seed=5, cfg=6.0, sampler_name="euler", scheduler="normal")
    graph["6"]["inputs"]["text"] = "a lighthouse, at dusk"
    graph["20"] = {"class_type": "LoraLoader", "inputs": {
        "model": ["4", 0], "clip": ["4", 1], "lora_name": "styles/ink.safetensors",
        "strength_model": 0.75, "strength_clip": 0.75}}
    graph["3"]["inputs"]["model"] = ["20", 0]
    graph["6"]["inputs"]["clip"] = graph["7"]["inputs"]["clip"] = ["20", 1]
    result = engine.run(graph, extra_data={"extra_pnginfo": {"workflow": UI_WORKFLOW}})
    assert result.status == "success", result.error

    saved = result.outputs["9"]["images"][0]
    with Image.open(base / "output" / saved["subfolder"] / saved["filename"]) as png:
        png.load()
        chunks = dict(png.text)
        size = png.size
    assert size == (16, 12)  # the tiny VAE upsamples by 2: the size written is the saved image's, not the latent's
    assert list(chunks) == ["prompt", "workflow", "parameters"]
    assert json.loads(chunks["prompt"]) == graph and json.loads(chunks["workflow"]) == UI_WORKFLOW

    prompt, negative, fields = parse(chunks["parameters"])
    assert prompt == "a lighthouse, at dusk, <lora:ink:0.75>"
    assert negative == "blurry, lowres"
    assert fields == {
        "Steps": "2", "Sampler": "Euler", "Schedule type": "Normal", "CFG scale": "6", "Seed": "5",
        "Size": "16x12", "Model hash": hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10],
        "Model": checkpoint.stem, "Lora hashes": f"ink: {tensor_bytes_sha256(lora)[:12]}", "Version": "Latentloom"}
    assert tensor_bytes_sha256(lora) != hashlib.sha256(lora.read_bytes()).hexdigest()  # the header is left out


def test_an_image_without_a_sampler_upstream_gets_no_parameters_chunk(studio):
    from PIL import Image

    base, engine, _, _ = studio
    graph = {"1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
             "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": studio[2].name}},
             "3": {"class_type": "VAEDecode", "inputs": {"samples": ["1", 0], "vae": ["2", 2]}},
             "9": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "plain"}}}
    result = engine.run(graph)
    assert result.status == "success", result.error
    saved = result.outputs["9"]["images"][0]
    with Image.open(base / "output" / saved["filename"]) as png:
        png.load()
        assert set(png.text) == {"prompt"}


def test_files_a_run_loads_are_hashed_in_the_background_before_any_save(studio):
    """Saving must not read a multi-GB checkpoint: loading it starts its hash, which a save then finds ready."""
    import shutil

    from model_library.hash_ahead import file_hashes
    from model_library.hashes import HASH_DATABASE, HashCache

    base, engine, checkpoint, lora = studio
    name = f"ahead-{uuid.uuid4().hex}.safetensors"  # new paths: no earlier test hashed them
    fresh_checkpoint = Path(shutil.copyfile(checkpoint, base / "models" / "checkpoints" / name))
    fresh_lora = Path(shutil.copyfile(lora, base / "models" / "loras" / name))
    graph = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": name}},
             "20": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": name,
                                                           "strength_model": 0.5, "strength_clip": 0.5}},
             "30": {"class_type": "PreviewAny", "inputs": {"source": ["20", 0]}}}  # nothing is saved
    try:
        result = engine.run(graph)
        assert result.status == "success", result.error
        with HashCache(base / "user" / HASH_DATABASE) as hashes:
            found_checkpoint = file_hashes(engine.folders, hashes, fresh_checkpoint)
            found_lora = file_hashes(engine.folders, hashes, fresh_lora)
            assert hashes.computed == 0  # both came from the background jobs, none was read here
    finally:  # copies of the studio's files would answer other tests' lookups by hash
        fresh_checkpoint.unlink()
        fresh_lora.unlink()
    assert found_checkpoint.model_hash == hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10]
    assert found_lora.lora_hash == tensor_bytes_sha256(lora)[:12]
