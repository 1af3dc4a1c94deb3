"""ComfyUI's SD1/SDXL example templates (the `comfyui-workflow-templates` package) converted and run on tiny models,
each checked for what its key node does: against the same graph without that node, or an independent route to the
same result."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from graph_engine import ui_to_api
from tests.fixtures.tiny_upscale_models import tiny_rrdbnet
from tests.nodes.conditioning.test_image_input_models import write_checkpoint
from tests.nodes.pipeline.test_workflow_templates import TEMPLATES, shrunk, template_studio  # noqa: F401 (fixture)

ESRGAN = "4x_tiny_esrgan.pth"
INPAINTING = "tiny_inpainting.safetensors"
SMALL_INPUT = "small.png"
PIXEL = 1 / 255  # what PNG rounding may move a value by
# The tiny VAE halves the size (a real one divides by 8): the 64 px latents shrunk() asks for decode to 16 px, its
# 96 px upscales to 24 px.
SMALL, LARGE = (16, 16, 3), (24, 24, 3)


def identity_esrgan():
    """A 4x ESRGAN in the original repository's key layout whose output is the input repeated 4x4 (nearest): the
    first conv takes the RGB channels in, the trunk adds nothing, every later conv passes its channels on."""
    model = tiny_rrdbnet("old", scale=4, features=8, blocks=1, seed=3)
    with torch.no_grad():
        for weight, bias in [model.first, model.trunk, *model.upsamplings, model.hr, model.last]:
            weight.zero_()
            bias.zero_()
        for weight, _ in [model.first, *model.upsamplings, model.hr, model.last]:
            for channel in range(min(weight.shape[:2])):
                weight[channel, channel, 1, 1] = 1.0
    return model


@pytest.fixture(scope="module")
def outcome_studio(template_studio):  # noqa: F811
    """The template studio plus a 9-channel inpainting checkpoint, a smaller input image and the ESRGAN model."""
    checkpoints = template_studio.base / "models" / "checkpoints"
    if not (checkpoints / INPAINTING).exists():
        write_checkpoint(checkpoints, INPAINTING, 9, seed=11)
        pixels = np.full((32, 32, 4), 255, dtype=np.uint8)  # RGB noise with a transparent hole (the mask)
        pixels[..., :3] = np.random.default_rng(1).integers(0, 255, (32, 32, 3))
        pixels[8:20, 8:24, 3] = 0
        Image.fromarray(pixels, "RGBA").save(template_studio.base / "input" / SMALL_INPUT)
        upscale_models = template_studio.base / "models" / "upscale_models"
        upscale_models.mkdir(parents=True, exist_ok=True)
        torch.save({key: value.contiguous() for key, value in identity_esrgan().state_dict.items()},
                   upscale_models / ESRGAN)
    return template_studio


def prompt_of(studio, template: str, checkpoint: str = "sd1") -> dict:
    workflow = json.loads((TEMPLATES / template).read_text(encoding="utf-8"))
    name = studio.tiny[checkpoint].path.name if checkpoint in studio.tiny else checkpoint
    prompt = shrunk(ui_to_api(workflow, studio.engine.registry), name)
    for node in prompt.values():
        if node["class_type"] == "UpscaleModelLoader":
            node["inputs"]["model_name"] = ESRGAN
    return prompt


def run(studio, prompt: dict) -> tuple[dict[str, list[np.ndarray]], dict[str, torch.Tensor]]:
    """The images each output node saved (float arrays in 0..1) and the latents each SaveLatent saved."""
    result = studio.engine.run(prompt)
    assert result.status == "success", result.error
    folders = studio.engine.folders
    images, latents = {}, {}
    for node, output in result.outputs.items():
        for saved in output.get("images", []):
            root = folders.temp if saved["type"] == "temp" else folders.output
            with Image.open(root / saved["subfolder"] / saved["filename"]) as png:
                images.setdefault(node, []).append(np.asarray(png.convert("RGB"), dtype=np.float64) / 255)
        for saved in output.get("latents", []):
            latents[node] = load_file(str(folders.output / saved["subfolder"] / saved["filename"]))["latent_tensor"]
    return images, latents


def probe(prompt: dict, source: list, node_id: str = "probe") -> dict:
    """The prompt with a SaveLatent on `source`, to compare what a sampler made."""
    prompt[node_id] = {"class_type": "SaveLatent", "inputs": {"samples": source, "filename_prefix": "probe/latent"}}
    return prompt


def bypassed(prompt: dict, node_id: str, passes: dict[int, str]) -> dict:
    """The prompt with a node taken out: whatever read its output `i` reads its input `passes[i]`'s source."""
    copy = json.loads(json.dumps(prompt))
    node = copy.pop(node_id)
    for other in copy.values():
        for name, value in other["inputs"].items():
            if isinstance(value, list) and len(value) == 2 and value[0] == node_id:
                other["inputs"][name] = node["inputs"][passes[value[1]]]
    return copy


def changed(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest change between two latents. The tiny random UNets predict latents in the hundreds and respond
    weakly to what guides them, so any change well above float rounding shows the node acted."""
    assert a.shape == b.shape
    return float((a - b).abs().max())


def save(prompt: dict, node_id: str, source: list) -> None:
    """Another SaveImage on `source`, to see an intermediate image."""
    prompt[node_id] = {"class_type": "SaveImage", "inputs": {"images": source, "filename_prefix": "probe/image"}}


def differ(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean()) if a.shape == b.shape else float("inf")




def test_esrgan_upscales_the_decoded_image_4x(outcome_studio):
    prompt = prompt_of(outcome_studio, "esrgan_example.json")
    save(prompt, "plain", ["8", 0])
    images, _ = run(outcome_studio, prompt)
    upscaled, plain = images["9"][0], images["plain"][0]
    assert plain.shape == SMALL and upscaled.shape == (64, 64, 3)
    assert np.abs(upscaled - plain.repeat(4, axis=0).repeat(4, axis=1)).max() <= PIXEL
    pil = Image.fromarray(np.round(plain * 255).astype(np.uint8)).resize((64, 64), Image.BICUBIC)
    bicubic = np.asarray(pil, dtype=np.float64) / 255
    assert differ(upscaled, bicubic) < 0.1 < differ(upscaled, bicubic[::-1])


def test_hires_fix_with_esrgan_samples_again_at_the_scaled_size(outcome_studio):
    prompt = prompt_of(outcome_studio, "hiresfix_esrgan_workflow.json")
    prompt["24"]["inputs"].update(width=24, height=24)
    save(prompt, "scaled", ["24", 0])
    images, latents = run(outcome_studio, probe(prompt, ["11", 0]))
    first, scaled, second = images["9"][0], images["scaled"][0], images["12"][0]
    assert (first.shape, scaled.shape, second.shape) == (SMALL, LARGE, LARGE)
    nearest = torch.from_numpy(first.repeat(4, axis=0).repeat(4, axis=1)).permute(2, 0, 1)[None]
    expected = torch.nn.functional.interpolate(nearest, size=(24, 24), mode="bilinear", align_corners=False)
    assert np.abs(scaled - expected[0].permute(1, 2, 0).numpy()).max() <= 2 * PIXEL
    encoded = run(outcome_studio, probe(prompt, ["20", 0]))[1]["probe"]
    assert changed(latents["probe"], encoded) > 0.05  # the second pass sampled the encoded upscale


def test_sdxl_turbo_one_step_equals_ksampler_from_the_same_noise(outcome_studio):
    prompt = prompt_of(outcome_studio, "sdxlturbo_example.json", "sdxl")
    images, latents = run(outcome_studio, probe(prompt, ["13", 0]))
    assert [image.shape for image in images["25"]] == [SMALL]
    # One step from sigma max at cfg 1 is the model's x0 prediction: euler ancestral adds no noise on its last
    # step, and KSampler's one "normal" step starts at the same sigma with the same seed's noise.
    reference = json.loads(json.dumps(prompt))
    reference["13"] = {"class_type": "KSampler", "inputs": {
        "seed": 0, "steps": 1, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
        "model": ["20", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}}
    for unused in ("14", "22"):
        reference.pop(unused)
    same = run(outcome_studio, reference)[1]["probe"]
    assert torch.allclose(same, latents["probe"], atol=1e-5)
    reference["13"]["inputs"]["steps"] = 2
    assert changed(run(outcome_studio, reference)[1]["probe"], latents["probe"]) > 0.01


def test_inpainting_model_keeps_the_latent_outside_the_mask(outcome_studio):
    prompt = prompt_of(outcome_studio, "inpaint_example.json", INPAINTING)
    prompt["20"]["inputs"]["image"] = SMALL_INPUT
    images, latents = run(outcome_studio, probe(probe(prompt, ["26", 0], "encoded"), ["3", 0], "sampled"))
    assert [image.shape for image in images["9"]] == [(32, 32, 3)]  # the input image's size
    encoded, sampled = latents["encoded"][0], latents["sampled"][0]
    # the hole is pixels 8..20 x 8..24, grown by 6 to 2..26 x 2..30: in the half-size latent, the last row and
    # column lie outside it, row 7 x columns 6..9 well inside
    assert encoded.shape[-2:] == (16, 16)
    outside = torch.cat([(sampled - encoded)[:, 15], (sampled - encoded)[:, :, 15]])
    inside = (sampled - encoded)[:, 7, 6:10]
    # outside: the encoded latent again (up to the multistep sampler's rounding); inside: what the model drew
    assert outside.abs().max() < 0.05 < 1.0 < inside.abs().mean()


def test_outpainting_pads_the_image_and_draws_only_the_border(outcome_studio):
    prompt = prompt_of(outcome_studio, "inpain_model_outpainting.json", INPAINTING)
    prompt["20"]["inputs"]["image"] = SMALL_INPUT
    prompt["30"]["inputs"]["feathering"] = 0  # a sharp border, so that the image's middle stays unmasked
    prompt["26"]["inputs"]["grow_mask_by"] = 0
    images, latents = run(outcome_studio, probe(probe(prompt, ["26", 0], "encoded"), ["3", 0], "sampled"))
    assert [image.shape for image in images["9"]] == [(32 + 8 + 16, 32 + 8 + 8, 3)]  # shrunk()'s padding
    change = (latents["sampled"] - latents["encoded"])[0].abs()
    # padding 8 px left and top: the half-size latent's rows and columns 4..19 hold the image, the rest is border
    assert change[:, 6:18, 6:18].max() < 0.05 < 1.0 < change[:, 22:].mean()


def test_image_to_image_starts_from_the_loaded_image(outcome_studio):
    prompt = prompt_of(outcome_studio, "image2image.json")
    prompt["10"]["inputs"]["image"] = SMALL_INPUT
    images, latents = run(outcome_studio, probe(prompt, ["3", 0]))
    assert [image.shape for image in images["9"]] == [(32, 32, 3)]
    flipped = np.asarray(Image.open(outcome_studio.base / "input" / SMALL_INPUT))[::-1]
    Image.fromarray(np.ascontiguousarray(flipped), "RGBA").save(outcome_studio.base / "input" / "flipped.png")
    prompt["10"]["inputs"]["image"] = "flipped.png"
    assert changed(run(outcome_studio, prompt)[1]["probe"], latents["probe"]) > 0.01


@pytest.mark.parametrize("template", ["area_composition.json", "area_composition_reversed.json",
                                      "area_composition_square_area_for_subject.json"])
def test_area_composition_prompts_change_the_image(outcome_studio, template):
    prompt = prompt_of(outcome_studio, template)
    areas = [key for key, node in prompt.items() if node["class_type"] == "ConditioningSetArea"]
    first_sampler = next(key for key, node in prompt.items()
                         if node["class_type"] == "KSampler" and node["inputs"]["denoise"] == 1)
    images, latents = run(outcome_studio, probe(prompt, [first_sampler, 0]))
    assert images and all(image.shape in (SMALL, LARGE) for found in images.values() for image in found)
    for key in areas:  # at strength 0 an area's prompt weighs nothing: as if it were not there
        prompt[key]["inputs"]["strength"] = 0.0
    assert changed(run(outcome_studio, prompt)[1]["probe"], latents["probe"]) > 0.01


def test_hires_fix_in_latent_space_samples_the_upscaled_latent(outcome_studio):
    prompt = prompt_of(outcome_studio, "hiresfix_latent_workflow.json")
    images, latents = run(outcome_studio, probe(probe(prompt, ["10", 0], "upscaled"), ["11", 0], "second"))
    assert (images["9"][0].shape, images["12"][0].shape) == (SMALL, LARGE)
    assert latents["second"].shape[-2:] == (12, 12)
    assert changed(latents["second"], latents["upscaled"]) > 0.01


def test_second_model_and_prompt_refine_the_upscaled_latent(outcome_studio):
    prompt = prompt_of(outcome_studio, "latent_upscale_different_prompt_model.json")
    prompt["13"]["inputs"]["ckpt_name"] = outcome_studio.tiny["sd2_v"].path.name  # another model of SD1's latent space
    images, latents = run(outcome_studio, probe(prompt, ["32", 0]))
    assert (images["10"][0].shape, images["12"][0].shape) == (SMALL, LARGE)  # LatentUpscaleBy 1.5
    prompt["13"]["inputs"]["ckpt_name"] = outcome_studio.tiny["sd1"].path.name
    assert changed(run(outcome_studio, prompt)[1]["probe"], latents["probe"]) > 0.01


@pytest.mark.parametrize("template", ["lora.json", "lora_multiple.json"])
def test_loras_change_the_image(outcome_studio, template):
    prompt = prompt_of(outcome_studio, template)
    sampler = next(key for key, node in prompt.items() if node["class_type"] == "KSampler")
    images, latents = run(outcome_studio, probe(prompt, [sampler, 0]))
    assert [image.shape for found in images.values() for image in found] == [SMALL]
    plain = prompt
    for key in [k for k, n in prompt.items() if n["class_type"] == "LoraLoader"]:
        plain = bypassed(plain, key, {0: "model", 1: "clip"})
    assert changed(run(outcome_studio, plain)[1]["probe"], latents["probe"]) > 0.01
