"""Real editor files from the `comfyui-workflow-templates` package: converted graphs equal the API prompts ComfyUI
ran for them (embedded in the thumbnails), and the templates our nodes cover run on a tiny checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import comfyui_workflow_templates  # a declared test dependency (pyproject: test extras)
import numpy as np
import pytest
from PIL import Image

from graph_engine import NodeRegistry, ui_to_api
from tests.fixtures.registries import builtin_registry

TEMPLATES = Path(comfyui_workflow_templates.get_templates_path())


def comfy_node(inputs: dict, outputs: tuple, optional: dict | None = None, *, output_node: bool = False) -> type:
    """A class with the interface (INPUT_TYPES order, options, outputs) of a ComfyUI node we do not ship."""
    declared = {"required": inputs, **({"optional": optional} if optional else {})}
    return type("ComfyNode", (), {"INPUT_TYPES": classmethod(lambda cls: declared), "RETURN_TYPES": outputs,
                                  "FUNCTION": "run", "run": lambda self, **kw: (), "OUTPUT_NODE": output_node})


INT = lambda default: ("INT", {"default": default})  # noqa: E731
FLOAT = lambda default: ("FLOAT", {"default": default})  # noqa: E731
COND = ("CONDITIONING",)
# Interfaces as ComfyUI declares them (nodes.py, comfy_extras/nodes_video_model.py, nodes_wan.py, nodes_lt.py,
# nodes_custom_sampler.py, nodes_model_advanced.py, nodes_mochi.py, nodes_hunyuan.py, nodes_images.py, nodes_video.py).
VIDEO_SIZE = {"width": INT(848), "height": INT(480), "length": INT(25), "batch_size": INT(1)}
WAN_SIZE = {"width": INT(832), "height": INT(480), "length": INT(81), "batch_size": INT(1)}
COMFY_ONLY_NODES = {
    "ImageOnlyCheckpointLoader": comfy_node({"ckpt_name": ([],)}, ("MODEL", "CLIP_VISION", "VAE")),
    "SVD_img2vid_Conditioning": comfy_node(
        {"clip_vision": ("CLIP_VISION",), "init_image": ("IMAGE",), "vae": ("VAE",), "width": INT(1024),
         "height": INT(576), "video_frames": INT(14), "motion_bucket_id": INT(127), "fps": INT(6),
         "augmentation_level": FLOAT(0.0)}, ("CONDITIONING", "CONDITIONING", "LATENT")),
    "VideoLinearCFGGuidance": comfy_node({"model": ("MODEL",), "min_cfg": FLOAT(1.0)}, ("MODEL",)),
    "SaveWEBM": comfy_node(
        {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "ComfyUI"}), "codec": (["vp9", "av1"],),
         "fps": FLOAT(24.0), "crf": FLOAT(32.0)}, (), output_node=True),
    "ModelSamplingSD3": comfy_node({"model": ("MODEL",), "shift": FLOAT(3.0)}, ("MODEL",)),
    "WanImageToVideo": comfy_node(
        {"positive": COND, "negative": COND, "vae": ("VAE",), **WAN_SIZE}, ("CONDITIONING", "CONDITIONING", "LATENT"),
        {"clip_vision_output": ("CLIP_VISION_OUTPUT",), "start_image": ("IMAGE",)}),
    "WanFirstLastFrameToVideo": comfy_node(
        {"positive": COND, "negative": COND, "vae": ("VAE",), **WAN_SIZE}, ("CONDITIONING", "CONDITIONING", "LATENT"),
        {"clip_vision_start_image": ("CLIP_VISION_OUTPUT",), "clip_vision_end_image": ("CLIP_VISION_OUTPUT",),
         "start_image": ("IMAGE",), "end_image": ("IMAGE",)}),
    "EmptyLTXVLatentVideo": comfy_node({"width": INT(768), "height": INT(512), "length": INT(97), "batch_size": INT(1)},
                                       ("LATENT",)),
    "LTXVConditioning": comfy_node({"positive": COND, "negative": COND, "frame_rate": FLOAT(25.0)},
                                   ("CONDITIONING", "CONDITIONING")),
    "LTXVScheduler": comfy_node(
        {"steps": INT(20), "max_shift": FLOAT(2.05), "base_shift": FLOAT(0.95),
         "stretch": ("BOOLEAN", {"default": True}), "terminal": FLOAT(0.1)}, ("SIGMAS",), {"latent": ("LATENT",)}),
    "EmptyMochiLatentVideo": comfy_node(VIDEO_SIZE, ("LATENT",)),
    "EmptyHunyuanLatentVideo": comfy_node(VIDEO_SIZE, ("LATENT",)),
}


@pytest.fixture(scope="module")
def comfy_registry() -> NodeRegistry:
    return builtin_registry(more=COMFY_ONLY_NODES)


def embedded(thumbnail: Path) -> tuple[dict, dict]:
    """The editor workflow and the API prompt ComfyUI stored in a WEBP's EXIF as 'workflow:{...}', 'prompt:{...}'."""
    found = {}
    with Image.open(thumbnail) as image:
        for value in image.getexif().values():
            text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
            try:
                text = text.encode("latin-1").decode("utf-8")  # Pillow may read the UTF-8 bytes as Latin-1
            except (UnicodeEncodeError, UnicodeDecodeError):
                pass
            key, _, payload = text.partition(":")
            if key in ("workflow", "prompt"):
                found[key] = json.loads(payload)
    return found["workflow"], found["prompt"]


def comparable(prompt: dict, registry: NodeRegistry, randomized: set[str], edited: dict) -> dict:
    """class_type and declared inputs per node, without what changed after the run was queued: seeds the editor
    randomizes after each queue, and values the template's author edited later."""
    result = {}
    for node_id, node in prompt.items():
        declared = registry.get(node["class_type"]).inputs
        inputs = {name: value for name, value in node["inputs"].items()
                  if name in declared  # older editors also sent the upload button's value ("upload": "image")
                  and not (node_id in randomized and name in ("seed", "noise_seed"))
                  and (node_id, name) not in edited}
        result[node_id] = {"class_type": node["class_type"], "inputs": inputs}
    return result


# Values the templates' authors changed in the editor after the run that made the thumbnail.
EDITED_AFTER_RUN = {
    "image_to_video-1.webp": {("23", "image")},
    "ltxv_text_to_video-1.webp": {("38", "clip_name")},
    "wan2.1_flf2v_720_f16-1.webp": {("28", "quality")},
}
# Thumbnails whose workflow was rewired after the run (other loaders, another image source): nothing to compare.
REWIRED_AFTER_RUN = {"mochi_text_to_video_example-1.webp", "txt_to_image_to_video-1.webp"}
THUMBNAILS = sorted(p.name for p in TEMPLATES.glob("*.webp")
                    if b"class_type" in p.read_bytes() and p.name not in REWIRED_AFTER_RUN)


def test_every_thumbnail_with_a_prompt_is_compared_or_known_rewired():
    assert len(THUMBNAILS) >= 5 and REWIRED_AFTER_RUN <= {p.name for p in TEMPLATES.glob("*.webp")}


@pytest.mark.parametrize("thumbnail", THUMBNAILS)
def test_converted_thumbnail_workflow_equals_the_prompt_comfyui_ran(comfy_registry, thumbnail):
    workflow, prompt = embedded(TEMPLATES / thumbnail)
    converted = ui_to_api(workflow, comfy_registry)
    randomized = {str(n["id"]) for n in workflow["nodes"] if "randomize" in (n.get("widgets_values") or [])}
    edited = EDITED_AFTER_RUN.get(thumbnail, set())
    assert comparable(converted, comfy_registry, randomized, edited) == comparable(
        prompt, comfy_registry, randomized, edited)


# Templates whose nodes we ship, and the tiny checkpoint each runs on; test_workflow_template_outcomes.py runs the
# others, each checked for what its key node does.
RUNNABLE = {"default.json": "sd1", "embedding_example.json": "sd1", "sdxl_simple_example.json": "sdxl",
            "sdxl_refiner_prompt_example.json": "sdxl"}
TINY_LORA = "tiny_lora.safetensors"
TINY_VAE = "tiny_vae.safetensors"
EXAMPLE_IMAGE = "example.png"


@pytest.fixture(scope="module")
def template_studio(studio):
    """The pipeline studio plus what the templates load: an input image with a transparent hole, a LoRA, a VAE
    file (the tiny SD1's) and the embedding embedding_example.json names."""
    import torch
    from safetensors.torch import save_file

    pixels = np.full((64, 64, 4), 255, dtype=np.uint8)
    pixels[..., :3] = np.random.default_rng(0).integers(0, 255, (64, 64, 3))
    pixels[16:40, 16:48, 3] = 0
    (studio.base / "input").mkdir(exist_ok=True)
    Image.fromarray(pixels, "RGBA").save(studio.base / "input" / EXAMPLE_IMAGE)
    width = studio.tiny["sd1"].text_encoders[0].config.hidden_size
    generator = torch.Generator().manual_seed(0)
    loras = studio.base / "models" / "loras"
    loras.mkdir(parents=True, exist_ok=True)
    key = "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
    save_file({f"{key}.lora_down.weight": torch.randn(2, width, generator=generator),
               f"{key}.lora_up.weight": torch.randn(width, 2, generator=generator)}, str(loras / TINY_LORA))
    vae = {k.removeprefix("first_stage_model."): v for k, v in studio.tiny["sd1"].ldm_state_dict.items()
           if k.startswith("first_stage_model.")}
    (studio.base / "models" / "vae").mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in vae.items()}, str(studio.base / "models" / "vae" / TINY_VAE))
    torch.save({"emb_params": torch.randn(2, width, generator=generator)},
               studio.base / "models" / "embeddings" / "SDA768.pt")
    return studio


def shrunk(prompt: dict, checkpoint: str) -> dict:
    """Our tiny files in place of the template's, and sizes and steps small enough for a quick run."""
    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = checkpoint
        elif kind == "VAELoader":
            inputs["vae_name"] = TINY_VAE
        elif kind == "LoraLoader":
            inputs["lora_name"] = TINY_LORA
        elif kind == "LoadImage":
            inputs["image"] = EXAMPLE_IMAGE
        elif kind == "EmptyLatentImage":
            inputs.update(width=64, height=64)
        elif kind == "LatentUpscale":
            inputs.update(width=96, height=96)
        elif kind == "ImagePadForOutpaint":
            inputs.update(left=8, top=8, right=8, bottom=16)
        elif kind == "ConditioningSetArea":
            inputs.update(width=64, height=64, x=0, y=0)
        elif kind == "KSampler":
            inputs["steps"] = 2
        elif kind == "KSamplerAdvanced":  # the refiner takes the last step of three
            inputs.update(steps=3, start_at_step=min(inputs["start_at_step"], 2),
                          end_at_step=2 if inputs["end_at_step"] < 10000 else 10000)
    return prompt


@pytest.mark.parametrize("template", sorted(RUNNABLE))
def test_template_converts_and_runs_on_a_tiny_checkpoint(template_studio, template):
    studio = template_studio
    workflow = json.loads((TEMPLATES / template).read_text(encoding="utf-8"))
    prompt = shrunk(ui_to_api(workflow, studio.engine.registry), studio.tiny[RUNNABLE[template]].path.name)
    result = studio.engine.run(prompt)
    assert result.status == "success", result.error
    saved = [image for output in result.outputs.values() for image in output.get("images", [])]
    assert saved and all(image["filename"].endswith(".png") for image in saved)
    for image in saved:
        with Image.open(studio.base / "output" / image["subfolder"] / image["filename"]) as png:
            assert png.format == "PNG"
