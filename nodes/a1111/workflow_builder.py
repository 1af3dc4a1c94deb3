"""An AUTOMATIC1111 `parameters` text turned into the equivalent API-format workflow.

What an A1111 user expects when they run a shared A1111 image here: the same prompt and negative prompt, steps,
sampler and schedule, CFG scale, seed, size, clip skip, checkpoint (found by hash, then by name), each
`<lora:name:weight>` tag as a LoraLoader, bare embedding names as `embedding:name`, and a hires-fix second pass
when the text has "Hires upscale". A1111-only things with no node here (an img2img source image, PLMS) are left
out or refused with the reason; the equivalence is in settings, not bit-identical images (A1111's noise differs).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from graph_engine import Folders, WorkflowFormatError

from .infotext_reader import Infotext, LoraTag, parse_infotext
from .infotext_writer import SAMPLER_NAMES, SCHEDULE_TYPES
from .model_lookup import ModelNotInstalled, find_checkpoint, find_lora, installed_embeddings

log = logging.getLogger(__name__)

HIRES_DENOISE = 0.7  # A1111's default "Denoising strength" for the hires pass
DEFAULTS = {"Steps": "20", "CFG scale": "7", "Seed": "0", "Size": "512x512"}
# A1111 display name -> ComfyUI sampler; the first ComfyUI name written for a display name wins (no _gpu twins)
A1111_SAMPLERS = {label: name for name, label in reversed(list(SAMPLER_NAMES.items()))}
A1111_SCHEDULES = {label.lower(): name for name, label in SCHEDULE_TYPES.items()}
# A1111 before 1.9 put the schedule in the sampler's name: "DPM++ 2M Karras"
SCHEDULE_SUFFIXES = {" Karras": "karras", " Exponential": "exponential"}
LATENT_UPSCALERS = {"latent": "bilinear", "latent (antialiased)": "bilinear", "latent (bicubic)": "bicubic",
                    "latent (bicubic antialiased)": "bicubic", "latent (nearest)": "nearest-exact",
                    "latent (nearest-exact)": "nearest-exact"}


@dataclass(frozen=True)
class SamplerChoice:
    sampler: str
    scheduler: str


def sampler_choice(sampler: str | None, schedule_type: str | None) -> SamplerChoice:
    """ComfyUI's sampler and scheduler for A1111's "Sampler" and "Schedule type" fields."""
    from nodes.runtime.sampling import SAMPLERS, SCHEDULERS

    written = (sampler or "Euler").strip()
    scheduler = None
    if written not in A1111_SAMPLERS and written not in SAMPLERS:
        for suffix, name in SCHEDULE_SUFFIXES.items():
            if written.endswith(suffix):
                written, scheduler = written[: -len(suffix)], name
    chosen = A1111_SAMPLERS.get(written, written)
    if chosen not in SAMPLERS:
        known = ", ".join(sorted(A1111_SAMPLERS))
        raise WorkflowFormatError(f"A1111 sampler '{sampler}' has no equivalent here (known: {known})")
    if schedule_type and schedule_type.strip().lower() != "automatic":
        scheduler = A1111_SCHEDULES.get(schedule_type.strip().lower(), schedule_type.strip())
        if scheduler not in SCHEDULERS:
            raise WorkflowFormatError(f"A1111 schedule type '{schedule_type}' has no equivalent here "
                                      f"(known: {', '.join(SCHEDULE_TYPES.values())})")
    default = "ddim_uniform" if chosen == "ddim" else "normal"
    return SamplerChoice(chosen, scheduler or default)


def _number(fields: dict[str, str], key: str, kind: type) -> Any:
    text = fields.get(key, DEFAULTS.get(key))
    try:
        return kind(float(text)) if kind is int else kind(text)
    except (TypeError, ValueError):
        raise WorkflowFormatError(f"A1111 field '{key}: {text}' is not a number") from None


def _size(fields: dict[str, str]) -> tuple[int, int]:
    text = fields.get("Size", DEFAULTS["Size"])
    match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", text)
    if not match:
        raise WorkflowFormatError(f"A1111 field 'Size: {text}' is not WIDTHxHEIGHT")
    return int(match.group(1)), int(match.group(2))


def _lora_hashes(fields: dict[str, str]) -> dict[str, str]:
    """"Lora hashes: "a: 0123abcd4567, b: ..."" -> {name: hash}."""
    found = {}
    for part in fields.get("Lora hashes", "").split(","):
        name, _, value = part.rpartition(":")
        if name.strip() and value.strip():
            found[name.strip()] = value.strip()
    return found


def with_embedding_names(text: str, embeddings: dict[str, str]) -> str:
    """A1111 uses an embedding by writing its name; ComfyUI needs `embedding:name`."""
    if not embeddings or not text:
        return text

    def replace(match: re.Match) -> str:
        word = match.group(0)
        name = embeddings.get(word.lower())
        return f"embedding:{name}" if name else word

    return re.sub(r"(?<![\w:.\-])[\w.\-]+", replace, text)


class _Graph:
    """Adds nodes with consecutive string ids."""

    def __init__(self) -> None:
        self.prompt: dict[str, dict] = {}

    def add(self, class_type: str, title: str, **inputs: Any) -> str:
        node_id = str(len(self.prompt) + 1)
        self.prompt[node_id] = {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}
        return node_id


def _checkpoint(folders: Folders, fields: dict[str, str]) -> str:
    from model_library.folders import list_models

    name, model_hash = fields.get("Model"), fields.get("Model hash")
    if not name and not model_hash:
        installed = list_models(folders, "checkpoints")
        if not installed:
            raise ModelNotInstalled("the text names no checkpoint and models/checkpoints is empty")
        log.warning("the A1111 text names no checkpoint; using %s", installed[0])
        return installed[0]
    return find_checkpoint(folders, name, model_hash)


def _lora_chain(folders: Folders, graph: _Graph, model: list, clip: list, loras: list[LoraTag],
                hashes: dict[str, str]):
    for tag in loras:
        node = graph.add("LoraLoader", f"LoRA {tag.name}", model=model, clip=clip,
                         lora_name=find_lora(folders, tag.name, hashes.get(tag.name)),
                         strength_model=tag.unet, strength_clip=tag.text_encoder)
        model, clip = [node, 0], [node, 1]
    return model, clip


def _hires_upscale(graph: _Graph, fields: dict[str, str], latent: list, vae: list) -> list:
    """The upscale before the second sampler: in latent space for A1111's Latent upscalers, else in pixels."""
    scale = _number(fields, "Hires upscale", float)
    upscaler = fields.get("Hires upscaler", "Latent")
    method = LATENT_UPSCALERS.get(upscaler.strip().lower())
    if method is not None:
        return [graph.add("LatentUpscaleBy", "Hires upscale", samples=latent, upscale_method=method,
                          scale_by=scale), 0]
    log.warning("A1111 upscaler '%s' is not available; the hires pass upscales the image with lanczos", upscaler)
    decoded = graph.add("VAEDecode", "Decode for upscale", samples=latent, vae=vae)
    scaled = graph.add("ImageScaleBy", "Hires upscale", image=[decoded, 0], upscale_method="lanczos", scale_by=scale)
    return [graph.add("VAEEncode", "Encode upscaled", pixels=[scaled, 0], vae=vae), 0]


def prompt_from_infotext(info: Infotext, folders: Folders) -> dict[str, dict]:
    """The API-format workflow for a parsed infotext, naming the model files of the installation `folders`;
    WorkflowFormatError names whatever cannot be matched."""
    fields = info.fields
    choice = sampler_choice(fields.get("Sampler"), fields.get("Schedule type"))
    steps, cfg, seed = _number(fields, "Steps", int), _number(fields, "CFG scale", float), _number(fields, "Seed", int)
    width, height = _size(fields)
    if "Denoising strength" in fields and "Hires upscale" not in fields:
        log.warning("the A1111 image was made by img2img; its source image is not in the file, so this runs "
                    "text-to-image with the same settings")
    embeddings = installed_embeddings(folders)
    graph = _Graph()
    try:
        checkpoint = graph.add("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name=_checkpoint(folders, fields))
        model, clip = _lora_chain(folders, graph, [checkpoint, 0], [checkpoint, 1], info.loras, _lora_hashes(fields))
    except ModelNotInstalled as exc:
        raise WorkflowFormatError(str(exc)) from None
    vae = [checkpoint, 2]
    if "Clip skip" in fields and _number(fields, "Clip skip", int) > 1:
        clip = [graph.add("CLIPSetLastLayer", "Clip skip", clip=clip,
                          stop_at_clip_layer=-_number(fields, "Clip skip", int)), 0]
    positive = graph.add("CLIPTextEncode", "Prompt", clip=clip, text=with_embedding_names(info.prompt, embeddings))
    negative = graph.add("CLIPTextEncode", "Negative prompt", clip=clip,
                         text=with_embedding_names(info.negative_prompt, embeddings))
    sampling = dict(model=model, seed=seed, steps=steps, cfg=cfg, sampler_name=choice.sampler,
                    scheduler=choice.scheduler, positive=[positive, 0], negative=[negative, 0])
    empty = graph.add("EmptyLatentImage", "Empty Latent Image", width=width, height=height, batch_size=1)
    latent = [graph.add("KSampler", "KSampler", latent_image=[empty, 0], denoise=1.0, **sampling), 0]
    if "Hires upscale" in fields:
        upscaled = _hires_upscale(graph, fields, latent, vae)
        denoise = _number(fields, "Denoising strength", float) if "Denoising strength" in fields else HIRES_DENOISE
        hires_steps = _number(fields, "Hires steps", int) if "Hires steps" in fields else 0  # 0: as many as pass 1
        latent = [graph.add("KSampler", "Hires KSampler", latent_image=upscaled, denoise=denoise,
                            **{**sampling, "steps": hires_steps or steps}), 0]
    decoded = graph.add("VAEDecode", "VAE Decode", samples=latent, vae=vae)
    graph.add("SaveImage", "Save Image", images=[decoded, 0], filename_prefix="A1111")
    return graph.prompt


def prompt_from_parameters(text: str, folders: Folders) -> dict[str, dict]:
    """The API-format workflow for an A1111 `parameters` text (the PNG chunk, or text pasted from PNG Info), naming
    the model files of the installation `folders`."""
    try:
        info = parse_infotext(text)
    except ValueError as exc:
        raise WorkflowFormatError(f"A1111 parameters: {exc}") from None
    return prompt_from_infotext(info, folders)
