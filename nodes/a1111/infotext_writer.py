"""AUTOMATIC1111's `parameters` text for a saved image, read off the API-format graph that made it.

Galleries and sites (Civitai, image browsers, A1111's own PNG Info) show settings only from this one text chunk, so
SaveImage writes it beside ComfyUI's `prompt` and `workflow` chunks. The text is built from the graph alone: walk
upstream from the saving node to the nearest KSampler/KSamplerAdvanced (in a hires-fix chain the last one, whose
denoise is shown), its texts, its LoRA chain and its checkpoint. Whatever cannot be known is left out; with no
sampler upstream there is no text at all. Decisions, for readers of the text:

* Sampler and scheduler names are A1111's display names where A1111 has the same method ("euler_ancestral" ->
  "Euler a", "karras" -> "Karras", "normal" -> "Normal", "ddim_uniform" -> "DDIM"); other names are written as
  ComfyUI spells them. The schedule goes into A1111's own "Schedule type" field (A1111 1.9+), not into the sampler.
* Texts that meet in ConditioningCombine/Concat/Average are joined with ", " (first input first, repeats dropped);
  the exact graph stays in the `prompt` chunk.
* LoRAs are written both as `<lora:name:strength>` tags at the end of the prompt (how A1111 users paste and share
  prompts; `<lora:name:te:unet>` when the text encoder strength differs) and as "Lora hashes".
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

if TYPE_CHECKING:
    from graph_engine import Folders
    from model_library.hashes import HashCache

from graph_engine.plan import Link

log = logging.getLogger(__name__)

VERSION = "Latentloom"

SAMPLER_NAMES = {
    "euler": "Euler", "euler_ancestral": "Euler a", "heun": "Heun", "dpm_2": "DPM2", "dpm_2_ancestral": "DPM2 a",
    "lms": "LMS", "dpm_fast": "DPM fast", "dpm_adaptive": "DPM adaptive", "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_sde": "DPM++ SDE", "dpmpp_sde_gpu": "DPM++ SDE", "dpmpp_2m": "DPM++ 2M", "dpmpp_2m_sde": "DPM++ 2M SDE",
    "dpmpp_2m_sde_gpu": "DPM++ 2M SDE", "dpmpp_3m_sde": "DPM++ 3M SDE", "dpmpp_3m_sde_gpu": "DPM++ 3M SDE",
    "ddim": "DDIM", "uni_pc": "UniPC", "lcm": "LCM",
}
# A1111's sd_schedulers labels; its "Normal" and "DDIM" schedules compute what ComfyUI's normal and ddim_uniform do
SCHEDULE_TYPES = {
    "normal": "Normal", "karras": "Karras", "exponential": "Exponential", "sgm_uniform": "SGM Uniform",
    "simple": "Simple", "ddim_uniform": "DDIM", "beta": "Beta", "kl_optimal": "KL Optimal",
}
SAMPLERS = frozenset({"KSampler", "KSamplerAdvanced"})
CHECKPOINT_LOADERS = frozenset({"CheckpointLoaderSimple", "CheckpointLoader"})
LORA_LOADERS = frozenset({"LoraLoader", "LoraLoaderModelOnly"})
TEXT_ENCODERS = {"CLIPTextEncode": "text", "CLIPTextEncodeSDXL": "text_g", "CLIPTextEncodeSDXLRefiner": "text"}
# conditioning nodes whose output carries their inputs' texts: class -> the inputs, per output index
CONDITIONING_THROUGH: dict[str, tuple[tuple[str, ...], ...]] = {
    "ConditioningCombine": (("conditioning_1", "conditioning_2"),),
    "ConditioningConcat": (("conditioning_to", "conditioning_from"),),
    "ConditioningAverage": (("conditioning_to", "conditioning_from"),),
    "ConditioningSetArea": (("conditioning",),),
    "ConditioningSetAreaPercentage": (("conditioning",),),
    "ConditioningSetAreaStrength": (("conditioning",),),
    "ConditioningSetMask": (("conditioning",),),
    "ConditioningSetTimestepRange": (("conditioning",),),
    "ConditioningMultiply": (("conditioning",),),
    "ControlNetApply": (("conditioning",),),
    "ControlNetApplyAdvanced": (("positive",), ("negative",)),
    "ControlNetInpaintingAliMamaApply": (("positive",), ("negative",)),
    "InpaintModelConditioning": (("positive",), ("negative",)),
    "InstructPixToPixConditioning": (("positive",), ("negative",)),
    "SD_4XUpscale_Conditioning": (("positive",), ("negative",)),
    "unCLIPConditioning": (("conditioning",),),
    "StyleModelApply": (("conditioning",),),
    "GLIGENTextBoxApply": (("conditioning_to",),),
}


@dataclass(frozen=True)
class LoraUse:
    """One LoRA on the sampler's model chain, as the loader node set it."""

    file: str
    strength_model: float
    strength_clip: float | None  # None: a model-only loader

    @property
    def name(self) -> str:
        return file_stem(self.file)


@dataclass
class GenerationSettings:
    """What A1111 would have shown for this image; None where the graph did not tell."""

    prompt: str | None = None
    negative_prompt: str | None = None
    steps: int | None = None
    sampler: str | None = None
    scheduler: str | None = None
    cfg: float | None = None
    seed: int | None = None
    denoise: float | None = None
    checkpoint: str | None = None
    loras: list[LoraUse] = field(default_factory=list)


def file_stem(name: str) -> str:
    """A model's name as A1111 shows it: the file name without folders and extension."""
    return PurePosixPath(str(name).replace("\\", "/")).stem


def _node(graph: Mapping[str, Any], node_id: Any) -> dict | None:
    node = graph.get(str(node_id))
    return node if isinstance(node, dict) and isinstance(node.get("inputs"), dict) else None


def literal(graph: Mapping[str, Any], value: Any, kind: type | tuple[type, ...], depth: int = 0) -> Any:
    """A literal input, or the value of a simple primitive node it links to (one literal input); else None."""
    link = Link.of(value)
    if link is not None:
        source = _node(graph, link.source)
        if source is None or depth > 8 or link.index != 0:
            return None
        inputs = source["inputs"]
        if len(inputs) != 1:
            return None
        return literal(graph, next(iter(inputs.values())), kind, depth + 1)
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        return None
    return value if isinstance(value, kind) else None


def nearest_sampler(graph: Mapping[str, Any], start_id: str) -> str | None:
    """The first KSampler/KSamplerAdvanced met walking upstream breadth-first: the last one before the image."""
    seen, queue = {str(start_id)}, [str(start_id)]
    while queue:
        node = _node(graph, queue.pop(0))
        if node is None:
            continue
        for value in node["inputs"].values():
            link = Link.of(value)
            if link is None or link.source in seen:
                continue
            source_id = link.source
            seen.add(source_id)
            source = _node(graph, source_id)
            if source is not None and source.get("class_type") in SAMPLERS:
                return source_id
            queue.append(source_id)
    return None


def conditioning_texts(graph: Mapping[str, Any], value: Any, depth: int = 0) -> list[str] | None:
    """The texts encoded into the conditioning an input value links to, in input order; None when a node on the way
    is not understood."""
    link = Link.of(value)
    if link is None or depth > 32:
        return None
    node = _node(graph, link.source)
    if node is None:
        return None
    class_type, inputs = node.get("class_type"), node["inputs"]
    if class_type in TEXT_ENCODERS:
        text = literal(graph, inputs.get(TEXT_ENCODERS[class_type]), str)
        return None if text is None else [text]
    if class_type == "ConditioningZeroOut":
        return []
    through = CONDITIONING_THROUGH.get(class_type)
    if through is None or link.index >= len(through):
        return None
    texts: list[str] = []
    for name in through[link.index]:
        found = conditioning_texts(graph, inputs.get(name), depth + 1)
        if found is None:
            return None
        texts.extend(found)
    return texts


def joined_text(texts: list[str] | None) -> str | None:
    """Several texts as one prompt: ", " between them, empty ones and repeats dropped."""
    if texts is None:
        return None
    kept: list[str] = []
    for text in texts:
        if text.strip() and text not in kept:
            kept.append(text)
    return ", ".join(kept)


def model_chain(graph: Mapping[str, Any], value: Any) -> tuple[str | None, list[LoraUse]]:
    """(checkpoint file name, LoRAs from the checkpoint outward) along the sampler's model input `value`."""
    loras: list[LoraUse] = []
    seen: set[str] = set()
    link = Link.of(value)
    while link is not None and link.source not in seen:
        seen.add(link.source)
        node = _node(graph, link.source)
        if node is None:
            break
        class_type, inputs = node.get("class_type"), node["inputs"]
        if class_type in CHECKPOINT_LOADERS:
            return literal(graph, inputs.get("ckpt_name"), str), loras[::-1]
        if class_type in LORA_LOADERS:
            lora = _lora_use(graph, class_type, inputs)
            if lora is not None:
                loras.append(lora)
        link = Link.of(inputs.get("model"))  # model patches (ModelSamplingDiscrete, FreeU, ...) pass the model through
    return None, loras[::-1]


def _lora_use(graph: Mapping[str, Any], class_type: str, inputs: dict) -> LoraUse | None:
    name = literal(graph, inputs.get("lora_name"), str)
    strength = literal(graph, inputs.get("strength_model"), (int, float))
    if name is None or strength is None:
        return None
    clip = literal(graph, inputs.get("strength_clip"), (int, float)) if class_type == "LoraLoader" else None
    return LoraUse(name, float(strength), None if clip is None else float(clip))


def settings_from_graph(graph: Mapping[str, Any], save_node_id: str) -> GenerationSettings | None:
    """The settings behind the image the node `save_node_id` saves; None without a sampler upstream."""
    if not isinstance(graph, Mapping):
        return None
    sampler_id = nearest_sampler(graph, save_node_id)
    if sampler_id is None:
        return None
    inputs = graph[sampler_id]["inputs"]
    seed_input = "noise_seed" if graph[sampler_id].get("class_type") == "KSamplerAdvanced" else "seed"
    checkpoint, loras = model_chain(graph, inputs.get("model"))
    return GenerationSettings(
        prompt=joined_text(conditioning_texts(graph, inputs.get("positive"))),
        negative_prompt=joined_text(conditioning_texts(graph, inputs.get("negative"))),
        steps=literal(graph, inputs.get("steps"), int),
        sampler=literal(graph, inputs.get("sampler_name"), str),
        scheduler=literal(graph, inputs.get("scheduler"), str),
        cfg=literal(graph, inputs.get("cfg"), (int, float)),
        seed=literal(graph, inputs.get(seed_input), int),
        denoise=literal(graph, inputs.get("denoise"), (int, float)),
        checkpoint=checkpoint, loras=loras)


def number(value: float) -> str:
    """7.0 -> "7", 0.55 -> "0.55": how A1111's infotexts read."""
    as_float = float(value)
    return str(int(as_float)) if as_float.is_integer() else repr(as_float)


def quote(value: Any) -> str:
    """A1111's quoting of a field value: JSON-quoted when it holds a comma, a colon or a newline."""
    text = str(value)
    if "," not in text and ":" not in text and "\n" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def lora_tag(lora: LoraUse) -> str:
    """`<lora:name:strength>`, or A1111's `<lora:name:text encoder:unet>` when the two strengths differ."""
    clip = 0.0 if lora.strength_clip is None else lora.strength_clip
    if clip == lora.strength_model:
        return f"<lora:{lora.name}:{number(lora.strength_model)}>"
    return f"<lora:{lora.name}:{number(clip)}:{number(lora.strength_model)}>"


def prompt_with_lora_tags(prompt: str, loras: list[LoraUse]) -> str:
    if not loras:
        return prompt
    tags = ", ".join(lora_tag(lora) for lora in loras)
    if not prompt.strip():
        return tags
    return prompt.rstrip() + (" " if prompt.rstrip().endswith(",") else ", ") + tags


def generation_fields(settings: GenerationSettings, width: int, height: int, model_hash: str | None,
                      lora_hashes: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """The "Key: value" fields of the last line, in A1111's order, only those known."""
    if settings.steps is not None:
        yield "Steps", str(settings.steps)
    if settings.sampler is not None:
        yield "Sampler", SAMPLER_NAMES.get(settings.sampler, settings.sampler)
    if settings.scheduler is not None:
        yield "Schedule type", SCHEDULE_TYPES.get(settings.scheduler, settings.scheduler)
    if settings.cfg is not None:
        yield "CFG scale", number(settings.cfg)
    if settings.seed is not None:
        yield "Seed", str(settings.seed)
    yield "Size", f"{width}x{height}"
    if model_hash:
        yield "Model hash", model_hash
    if settings.checkpoint:
        yield "Model", file_stem(settings.checkpoint)
    if settings.denoise is not None and settings.denoise < 1:
        yield "Denoising strength", number(settings.denoise)
    hashes = [f"{lora.name.replace(':', '').replace(',', '')}: {lora_hashes[lora.file]}"
              for lora in settings.loras if lora_hashes.get(lora.file)]
    if hashes:
        yield "Lora hashes", ", ".join(hashes)
    yield "Version", VERSION


def infotext(settings: GenerationSettings, width: int, height: int, model_hash: str | None = None,
             lora_hashes: Mapping[str, str] | None = None) -> str:
    """The whole `parameters` text: prompt, "Negative prompt:" line when there is one, then the fields line."""
    prompt = prompt_with_lora_tags(settings.prompt or "", settings.loras)
    fields = ", ".join(f"{key}: {quote(value)}"
                       for key, value in generation_fields(settings, width, height, model_hash, lora_hashes or {}))
    negative = f"\nNegative prompt: {settings.negative_prompt}" if settings.negative_prompt else ""
    return f"{prompt}{negative}\n{fields}".strip()


def _file_hashes(folders: Folders, hashes: HashCache, kind: str, name: str):
    from model_library.folders import find_model
    from model_library.hash_ahead import file_hashes

    return file_hashes(folders, hashes, find_model(folders, kind, name))


_warned: set[tuple[str, str]] = set()  # (field, reason) already in the log: a failing file is named once, not per save
_warned_lock = threading.Lock()


def _first_time(key: tuple[str, str]) -> bool:
    with _warned_lock:
        if key in _warned:
            return False
        _warned.add(key)
        return True


def _safely(what: str, compute: Callable[[], str]) -> str | None:
    """`compute()`, or None when it fails (a moved or unreadable file: the image is saved without this field); the
    first failure for each file and reason is a warning, since galleries will show the image without it."""
    try:
        return compute()
    except Exception as error:
        reason = str(error) or type(error).__name__
        if _first_time((what, reason)):
            log.warning("saved images' A1111 parameters leave out the %s: %s (said once for this file)", what, reason)
        log.debug("no %s for the A1111 parameters", what, exc_info=True)
        return None


def parameters_for_image(graph: Any, save_node_id: str | None, width: int, height: int,
                         folders: Folders) -> str | None:
    """The `parameters` text for an image saved by `save_node_id`, its models hashed from the installation
    `folders`, or None; never raises (the save goes on)."""
    try:
        if save_node_id is None or not isinstance(graph, Mapping):
            return None
        settings = settings_from_graph(graph, str(save_node_id))
        if settings is None:
            return None
        from model_library.hashes import open_hash_cache

        model_hash = None
        lora_hashes = {}
        with open_hash_cache(folders) as hashes:
            if settings.checkpoint:
                model_hash = _safely(f"Model hash of checkpoint '{settings.checkpoint}'", lambda: _file_hashes(
                    folders, hashes, "checkpoints", settings.checkpoint).model_hash)
            for lora in settings.loras:
                found = _safely(f"Lora hash of '{lora.file}'",
                                lambda f=lora.file: _file_hashes(folders, hashes, "loras", f).lora_hash)
                if found:
                    lora_hashes[lora.file] = found
        return infotext(settings, width, height, model_hash, lora_hashes)
    except Exception:
        log.debug("could not build the A1111 parameters for node %s", save_node_id, exc_info=True)
        return None
