"""Load a diffusers-format model folder (`model_index.json` with `unet/`, `vae/`, `text_encoder/` and, for SDXL,
`text_encoder_2/`) into the same LoadedCheckpoint the single-file loader gives.

Everything is read locally: the configs from each subfolder's `config.json`, the weights from its safetensors files
(plain, `.fp16`/`.bf16` variants or sharded with an index), or `.bin` pickles through the weights-only unpickler.
Modules are built on meta and filled straight on the chosen device and dtype, as for single files; nothing here
calls `from_pretrained`, so nothing can reach the network.

The family comes from the components: two text encoders and a size-conditioned UNet are SDXL base; one text encoder
is SD1.x when it is OpenAI's CLIP (quick_gelu) and SD2.x when it is OpenCLIP (gelu). The text encoder specs copy the
single-file ENCODERS table (names, hidden layer, final norm), so prompts encode the same way for both kinds of model.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
import torch

from .architecture import ENCODERS, SUPPORTED, Architecture, CheckpointArchitecture, TextEncoderSpec
from .checkpoint_file import open_checkpoint_file
from .components import empty_text_encoder, empty_vae
from .conversion import UNUSED_TEXT_KEYS, LazyWeights
from .errors import CheckpointError, CorruptCheckpointError, MissingComponentError, UnknownArchitectureError
from .loader import CheckpointSummary, LoadedCheckpoint
from .meta_modules import fill_module
from .prediction import EPSILON, NAMES, PredictionChoice, read_sidecar
from .vae_config import SCALING_FACTORS

log = logging.getLogger(__name__)

MODEL_INDEX = "model_index.json"
SCHEDULER_CONFIG = "scheduler/scheduler_config.json"
FILE_FORMAT = "diffusers"
# Pipelines whose folders hold an SD1.x/SD2.x/SDXL UNet, VAE and CLIP text encoder(s) in the usual subfolders.
SUPPORTED_PIPELINES = ("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline",
                       "StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline",
                       "StableDiffusionXLInpaintPipeline")
# Pipelines users meet often, named in words so the error says what the folder is.
OTHER_PIPELINES = {"StableDiffusion3Pipeline": "Stable Diffusion 3", "FluxPipeline": "Flux",
                   "PixArtAlphaPipeline": "PixArt-α", "PixArtSigmaPipeline": "PixArt-Σ",
                   "StableCascadeCombinedPipeline": "Stable Cascade", "KandinskyV22Pipeline": "Kandinsky 2.2",
                   "StableDiffusionUpscalePipeline": "the SD x4 upscaler", "AuraFlowPipeline": "AuraFlow"}
SUPPORTED_FOLDERS = ("Latentloom loads diffusers folders of Stable Diffusion 1.x, 2.x and SDXL base "
                     "(StableDiffusionPipeline, StableDiffusionXLPipeline and their img2img/inpaint variants).")
# Weight file names in a component subfolder: diffusers' own, then transformers' (current, then legacy).
WEIGHT_NAMES = ("diffusion_pytorch_model", "model", "pytorch_model")
# Full precision first: it converts exactly to any dtype; half-precision variants when they are all there is.
VARIANTS = (None, "fp16", "bf16")
WEIGHT_FORMATS = ("safetensors", "bin")  # safetensors first: memory-mapped and unable to run code
# diffusers renamed the VAE's attention projections; older folders on the hub still carry the old names.
LEGACY_VAE_ATTENTION = {".query.": ".to_q.", ".key.": ".to_k.", ".value.": ".to_v.", ".proj_attn.": ".to_out.0."}
# What a text encoder config.json carries besides CLIPTextConfig arguments (build without a dtype: fill sets it).
CONFIG_METADATA = ("_name_or_path", "architectures", "model_type", "transformers_version", "torch_dtype", "dtype",
                   "_commit_hash")
# diffusers ships SD2.x's OpenCLIP-H without its last layer, which SD2.x never uses; see _text_encoder_spec.
OPEN_CLIP_H_WIDTH, OPEN_CLIP_H_LAYERS = 1024, 24
OPEN_CLIP_ACTIVATION = "gelu"  # OpenAI CLIP (SD1.x, SDXL's first encoder) uses quick_gelu


@dataclass(frozen=True)
class _FolderPlan:
    """What a folder holds, found from its JSON files and file listing alone (no weights read)."""

    path: Path
    detected: CheckpointArchitecture
    prediction: PredictionChoice
    weight_files: dict[str, list[Path]]  # subfolder -> files holding its weights (one, or the shards)
    subfolders: tuple[str, ...]  # text encoder subfolders, in the order of detected.text_encoders


def is_diffusers_folder(path: str | Path) -> bool:
    """Whether `path` is a directory holding a model_index.json (a diffusers pipeline folder)."""
    path = Path(path)
    return path.is_dir() and (path / MODEL_INDEX).is_file()


def inspect_diffusers_folder(path: str | Path) -> CheckpointSummary:
    """Architecture, component configs and prediction type of a diffusers folder, from its JSON files only.

    Also checks that every component's weights are present, so a broken download is reported before loading.
    """
    plan = _plan(path)
    return CheckpointSummary(plan.path, FILE_FORMAT, plan.detected, plan.prediction)


def load_diffusers_folder(path: str | Path, device: str | torch.device = "cpu",
                          dtype: torch.dtype = torch.float32) -> LoadedCheckpoint:
    """Build the UNet, VAE and text encoder(s) of a diffusers folder on meta, then fill them from its weight files.

    Each tensor is read once and goes straight to `device` as `dtype` (on the CPU in the files' own dtype it stays
    memory-mapped). Raises a CheckpointError subclass naming the folder when it is incomplete, broken, or not an
    SD1.x/SD2.x/SDXL base pipeline.
    """
    started = time.perf_counter()
    device = torch.device(device)
    plan = _plan(path)
    detected = plan.detected
    unet = _build_unet(plan, device, dtype)
    vae = _build_vae(plan, device, dtype)
    text_encoders = tuple(_build_text_encoder(plan, spec, subfolder, device, dtype)
                          for spec, subfolder in zip(detected.text_encoders, plan.subfolders))
    log.info("loaded %s (diffusers folder): %s, %s (%s), %s on %s in %.1f s", plan.path.name, detected.architecture,
             plan.prediction.prediction_type, plan.prediction.reason, str(dtype).removeprefix("torch."), device,
             time.perf_counter() - started)
    return LoadedCheckpoint(unet=unet, vae=vae, text_encoders=text_encoders, architecture=detected.architecture,
                            prediction_type=plan.prediction.prediction_type, detected=detected,
                            prediction=plan.prediction, path=plan.path)


# ---------------------------------------------------------------- reading the folder's description

def _plan(path: str | Path) -> _FolderPlan:
    folder = _check_folder(Path(path))
    index = _read_json(folder / MODEL_INDEX, folder)
    _check_pipeline(folder, index)
    encoders = _text_encoder_subfolders(folder, index)
    for subfolder in ("unet", "vae", *encoders):
        _require_listed(folder, index, subfolder)
    unet_config = _read_config(folder, "unet")
    text_configs = [_read_config(folder, subfolder) for subfolder in encoders]
    architecture = _family(folder, encoders, unet_config, text_configs)
    unet_kwargs = _buildable_kwargs(folder, "unet", unet_config)
    vae_kwargs = _buildable_kwargs(folder, "vae", _read_config(folder, "vae"))
    vae_kwargs.setdefault("scaling_factor", SCALING_FACTORS[architecture.value])
    specs = tuple(_text_encoder_spec(architecture, row, subfolder, config)
                  for row, subfolder, config in zip(ENCODERS[architecture], encoders, text_configs))
    _check_context(folder, architecture, unet_kwargs, specs)
    weight_files = {subfolder: _weight_files(folder, subfolder) for subfolder in ("unet", "vae", *encoders)}
    detected = CheckpointArchitecture(architecture, unet_kwargs, vae_kwargs, specs)
    return _FolderPlan(folder, detected, _prediction(folder, architecture), weight_files, encoders)


def _check_folder(folder: Path) -> Path:
    if not folder.exists():
        raise CheckpointError(folder, f"{folder} does not exist. Check the folder name and the models folder.")
    if not folder.is_dir():
        raise CheckpointError(folder, f"{folder} is a file, not a diffusers folder; load it as a single-file "
                                      f"checkpoint instead.")
    if not (folder / MODEL_INDEX).is_file():
        raise CheckpointError(folder, f"{folder} is not a diffusers model folder: it has no {MODEL_INDEX}. Point to "
                                      f"the folder that holds {MODEL_INDEX} (with unet/, vae/ and text_encoder/ "
                                      f"inside), or to a single-file checkpoint.")
    return folder


def _read_json(file: Path, folder: Path) -> dict:
    """A JSON object from the folder; a missing file is an incomplete download, an unreadable one a broken file."""
    if not file.is_file():
        raise MissingComponentError(folder, f"{folder} lacks {file.relative_to(folder)}. The folder is incomplete: "
                                            f"download the whole model folder again.")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        # RecursionError: nested far deeper than any config; json stops cleanly at the recursion limit
        raise CorruptCheckpointError(file, f"{file} (in the diffusers folder {folder}) is not readable JSON "
                                           f"({error}). Download it again or fix it.") from None
    if not isinstance(data, dict):
        raise CorruptCheckpointError(file, f"{file} (in the diffusers folder {folder}) should hold a JSON object. "
                                           f"Download it again or fix it.")
    return data


def _check_pipeline(folder: Path, index: dict) -> None:
    """Refuse pipelines other than SD1.x/SD2.x/SDXL, naming what the folder is."""
    name = index.get("_class_name")
    if name in SUPPORTED_PIPELINES:
        return
    if name is None and _listed(index, "unet"):
        log.warning("%s: %s names no pipeline class; going by its components", folder, MODEL_INDEX)
        return
    what = f"{OTHER_PIPELINES[name]} ({name})" if name in OTHER_PIPELINES else f"a {name or 'nameless'} pipeline"
    raise UnknownArchitectureError(folder, f"{folder} holds {what}, according to its {MODEL_INDEX}; Latentloom cannot "
                                           f"load it. {SUPPORTED_FOLDERS} {SUPPORTED}")


def _listed(index: dict, subfolder: str) -> bool:
    """model_index.json lists each component as [library, class]; [null, null] or no entry means it is absent."""
    entry = index.get(subfolder)
    return isinstance(entry, (list, tuple)) and any(part is not None for part in entry)


def _text_encoder_subfolders(folder: Path, index: dict) -> tuple[str, ...]:
    first, second = _listed(index, "text_encoder"), _listed(index, "text_encoder_2")
    if second and not first:
        raise UnknownArchitectureError(folder, f"{folder} has only a second text encoder (text_encoder_2), as an "
                                               f"SDXL refiner does; refiners are not supported. {SUPPORTED_FOLDERS}")
    if not first:
        raise MissingComponentError(folder, f"{folder} lists no text_encoder in its {MODEL_INDEX}. Use a complete "
                                            f"SD1.x/SD2.x/SDXL folder; loading a separate text encoder is not "
                                            f"supported.")
    return ("text_encoder", "text_encoder_2") if second else ("text_encoder",)


def _require_listed(folder: Path, index: dict, subfolder: str) -> None:
    if not _listed(index, subfolder):
        raise MissingComponentError(folder, f"{folder} lists no {subfolder} in its {MODEL_INDEX}, which an SD "
                                            f"pipeline needs. Use a complete model folder.")
    if not (folder / subfolder).is_dir():
        raise MissingComponentError(folder, f"{folder} has no {subfolder}/ subfolder, though its {MODEL_INDEX} "
                                            f"lists one. The download is incomplete: fetch the {subfolder}/ folder "
                                            f"(config.json and weights) again.")


def _read_config(folder: Path, subfolder: str) -> dict:
    return _read_json(folder / subfolder / "config.json", folder)


def _family(folder: Path, encoders: tuple[str, ...], unet_config: dict, text_configs: list[dict]) -> Architecture:
    """SDXL base: two encoders and size conditioning; otherwise OpenAI CLIP (SD1.x) or OpenCLIP (SD2.x)."""
    if len(encoders) == 2:
        if unet_config.get("addition_embed_type") != "text_time":
            raise UnknownArchitectureError(folder, f"{folder} has two text encoders but its UNet has no size "
                                                   f"conditioning (addition_embed_type 'text_time'), which SDXL "
                                                   f"base has. {SUPPORTED_FOLDERS}")
        return Architecture.SDXL
    activation = text_configs[0].get("hidden_act")
    if activation == "quick_gelu":
        return Architecture.SD1
    if activation == OPEN_CLIP_ACTIVATION:
        return Architecture.SD2
    raise UnknownArchitectureError(folder, f"{folder}/text_encoder is neither OpenAI CLIP (SD1.x, hidden_act "
                                           f"quick_gelu) nor OpenCLIP (SD2.x, gelu): its config says hidden_act "
                                           f"{activation!r}. {SUPPORTED_FOLDERS}")


def _buildable_kwargs(folder: Path, subfolder: str, config: dict) -> dict:
    """The <subfolder>/config.json entries our UNet or VAE takes (diffusers' arguments); one it cannot build is
    refused here, before any weights are read."""
    from ..models.autoencoder import CONFIG_DEFAULTS as VAE_KEYS, autoencoder_config
    from ..models.unet_model import CONFIG_DEFAULTS as UNET_KEYS, checked_unet_config

    name, keys, check = {"unet": ("UNet", UNET_KEYS, checked_unet_config),
                         "vae": ("VAE", VAE_KEYS, autoencoder_config)}[subfolder]
    kwargs = _known_entries(keys, name, config, folder / subfolder)
    try:
        check(kwargs)
    except ValueError as error:
        raise UnknownArchitectureError(folder, f"{folder}: its {name} is not one this loader can build: {error}. "
                                               f"{SUPPORTED_FOLDERS}") from None
    return kwargs


def _known_entries(accepted: Collection[str], module_name: str, config: dict, where: Path) -> dict:
    """The config entries named in `accepted`; the others are logged, unless `_`-prefixed bookkeeping."""
    kwargs = {key: value for key, value in config.items() if key in accepted}
    ignored = sorted(key for key in config if key not in accepted and not key.startswith("_"))
    if ignored:
        log.debug("%s/config.json: ignoring %s, which %s does not take", where, ignored, module_name)
    return kwargs


def _text_encoder_spec(architecture: Architecture, row: tuple, subfolder: str, config: dict) -> TextEncoderSpec:
    """The single-file loader's spec for this encoder, with the folder's config.

    diffusers' SD2.x folders keep only 23 of OpenCLIP-H's 24 layers (the last is never used); SD2.x conditions on
    the penultimate layer of 24, which is then the folder's last layer.
    """
    name, _, _, with_projection, hidden_layer, final_norm = row
    config = {key: value for key, value in config.items() if key not in CONFIG_METADATA}
    if (architecture is Architecture.SD2 and config.get("hidden_size") == OPEN_CLIP_H_WIDTH
            and config.get("num_hidden_layers") == OPEN_CLIP_H_LAYERS - 1):
        hidden_layer += 1
    return TextEncoderSpec(name, f"{subfolder}/", FILE_FORMAT, with_projection, config, hidden_layer, final_norm)


def _check_context(folder: Path, architecture: Architecture, unet_kwargs: dict,
                   specs: tuple[TextEncoderSpec, ...]) -> None:
    """The UNet attends to the text encoders' hidden states (SDXL: both, concatenated)."""
    given = sum(spec.config.get("hidden_size", 0) for spec in specs)
    expected = unet_kwargs.get("cross_attention_dim")
    if given != expected:
        raise UnknownArchitectureError(folder, f"{folder}: its UNet expects text features of width {expected} but "
                                               f"its {architecture} text encoder(s) give {given}; the folder mixes "
                                               f"components of different models. {SUPPORTED_FOLDERS}")


# ---------------------------------------------------------------- prediction type

def _prediction(folder: Path, architecture: Architecture) -> PredictionChoice:
    """A sidecar next to the folder (`<folder>.yaml/.yml/.json`) first, then the scheduler's config, else epsilon."""
    from_sidecar = read_sidecar(folder)
    if from_sidecar is not None:
        return from_sidecar
    scheduler = folder / SCHEDULER_CONFIG
    if not scheduler.is_file():
        return PredictionChoice(EPSILON, f"default for {architecture} (no {SCHEDULER_CONFIG})")
    raw = _read_json(scheduler, folder).get("prediction_type")
    if raw is None:
        return PredictionChoice(EPSILON, f"default for {architecture} ({SCHEDULER_CONFIG} sets none)")
    value = NAMES.get(str(raw).strip().lower())
    if value is None:
        raise CheckpointError(folder, f"{scheduler} sets prediction_type '{raw}', which Latentloom cannot sample; "
                                      f"it supports 'epsilon' and 'v_prediction'. If the model is one of those, put "
                                      f"'prediction_type: epsilon' (or v_prediction) in {folder.name}.yaml next to "
                                      f"the folder.")
    return PredictionChoice(value, f"set by {SCHEDULER_CONFIG}")


# ---------------------------------------------------------------- weight files

def _weight_files(folder: Path, subfolder: str) -> list[Path]:
    """The file(s) holding a component's weights: safetensors before .bin, full precision before fp16/bf16
    variants, one file or the shards an index names."""
    directory = folder / subfolder
    for file_format in WEIGHT_FORMATS:
        for variant in VARIANTS:
            for name in WEIGHT_NAMES:
                single = directory / _with_variant(f"{name}.{file_format}", variant)
                if single.is_file():
                    return [single]
                index = directory / _with_variant(f"{name}.{file_format}.index.json", variant)
                if index.is_file():
                    return _shards(folder, index)
    present = sorted(child.name for child in directory.iterdir()) if directory.is_dir() else []
    raise MissingComponentError(folder, f"{folder} has no weights in {subfolder}/ (looked for "
                                        f"{' or '.join(name + '.safetensors' for name in WEIGHT_NAMES[:2])}, their "
                                        f".fp16/.bf16 variants, sharded .index.json files and .bin files; found "
                                        f"{', '.join(present) or 'nothing'}). Download the {subfolder} weights into "
                                        f"{directory}.")


def _with_variant(filename: str, variant: str | None) -> str:
    """diffusers and transformers put the variant before the last suffix: model.fp16.safetensors,
    model.safetensors.index.fp16.json."""
    if variant is None:
        return filename
    stem, suffix = filename.rsplit(".", 1)
    return f"{stem}.{variant}.{suffix}"


def _shards(folder: Path, index: Path) -> list[Path]:
    weight_map = _read_json(index, folder).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise CorruptCheckpointError(index, f"{index} (in the diffusers folder {folder}) has no weight_map. "
                                            f"Download it again.")
    shards = [index.parent / name for name in sorted(set(weight_map.values()))]
    missing = [shard.name for shard in shards if not shard.is_file()]
    if missing:
        raise MissingComponentError(folder, f"{folder}: {index.parent.name}/ lacks {len(missing)} of the "
                                            f"{len(shards)} weight shards {index.name} lists (e.g. {missing[0]}). "
                                            f"The download is incomplete: fetch the missing files.")
    return shards


def _read_weights(files: list[Path], device: torch.device, dtype: torch.dtype,
                  rename: Callable[[str], str | None]) -> dict[str, torch.Tensor]:
    """Every tensor of `files`, read once straight to `device` as `dtype`, under the name `rename` gives it
    (None drops it)."""
    weights: dict[str, torch.Tensor] = {}
    for file in files:
        with open_checkpoint_file(file) as checkpoint:
            lazy = LazyWeights(checkpoint, device, dtype)
            for key in checkpoint.shapes:
                name = rename(key)
                if name is not None and name not in weights:
                    weights[name] = lazy[key]
    return weights


# ---------------------------------------------------------------- building modules

def _build_unet(plan: _FolderPlan, device: torch.device, dtype: torch.dtype):
    """Our UNet from unet/; the folder already uses diffusers' names, which are ours."""
    from .components import empty_unet

    module = empty_unet(plan.detected.unet_config)
    weights = _read_weights(plan.weight_files["unet"], device, dtype, lambda key: key)
    return fill_module(module, weights, component="UNet", path=plan.path / "unet", device=device)


def _build_vae(plan: _FolderPlan, device: torch.device, dtype: torch.dtype):
    """Our AutoencoderKl from vae/, accepting the attention names older diffusers folders use."""
    module = empty_vae(plan.detected.vae_config)
    weights = _read_weights(plan.weight_files["vae"], device, dtype, _current_vae_name)
    return fill_module(module, weights, component="VAE", path=plan.path / "vae", device=device)


def _current_vae_name(key: str) -> str:
    if ".attentions." in key:
        for old, new in LEGACY_VAE_ATTENTION.items():
            key = key.replace(old, new)
    return key


def _build_text_encoder(plan: _FolderPlan, spec: TextEncoderSpec, subfolder: str, device: torch.device,
                        dtype: torch.dtype):
    """Our CLIP text model, with the pooled projection where the family uses it."""
    module = empty_text_encoder(spec)
    weights = _read_weights(plan.weight_files[subfolder], device, dtype, _text_key_name)
    return fill_module(module, weights, component=f"text encoder {spec.name}", path=plan.path / subfolder,
                       device=device)


def _text_key_name(key: str) -> str | None:
    """The module's name for a file's CLIP weight: `text_model.*`, whether the file has that prefix or not (transformers
    >= 5.6 saves without it); None for keys no module has (old persistent position ids)."""
    bare = key.removeprefix("text_model.")
    if "text_model." + bare in UNUSED_TEXT_KEYS or bare in UNUSED_TEXT_KEYS:
        return None
    return bare if bare.startswith("text_projection.") else "text_model." + bare
