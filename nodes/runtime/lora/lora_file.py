"""Read a LoRA file into patches: one per target layer, of kind `lora`, `loha`, `lokr` or `diff` (a full weight
difference), optionally with DoRA and a bias difference.

Files from kohya/A1111, diffusers, PEFT and LyCORIS spell the same pieces differently (`lora_down`/`lora_A`/
`lora.down`, `hada_w1_a`, `lokr_w1`...). Grouping them here under one role name per piece keeps the maths in
`deltas.py` free of naming. A full checkpoint or an embedding given as a LoRA is refused with where it belongs,
and the base family the file was trained for is read from its metadata or key shapes so a caller can say
"LoRA for SDXL but the model is SD1.x" instead of silently patching nothing.

Pickle files (.pt/.ckpt/.bin/.pth) are only read with `torch.load(weights_only=True)`, which cannot run code.
"""
from __future__ import annotations

import logging
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from graph_engine import UserFacingError
from model_library.kinds import PICKLE_SUFFIXES

from ..checkpoints.checkpoint_file import read_all_tensors
from ..checkpoints.errors import CheckpointError

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIXES = ("model.diffusion_model.",)
FAMILIES = ("SD1.x", "SD2.x", "SDXL")
# text width (CLIP hidden size / UNet cross-attention input) -> family
CONTEXT_WIDTHS = {768: "SD1.x", 1024: "SD2.x", 2048: "SDXL"}

# key suffix -> (patch kind, role); longest suffixes are tried first. `None` kind: shared by every kind.
SUFFIXES: dict[str, tuple[str | None, str]] = {
    ".lora_down.weight": ("lora", "down"), ".lora_up.weight": ("lora", "up"), ".lora_mid.weight": ("lora", "mid"),
    ".lora_A.weight": ("lora", "down"), ".lora_B.weight": ("lora", "up"),
    ".lora.down.weight": ("lora", "down"), ".lora.up.weight": ("lora", "up"),
    ".lora_linear_layer.down.weight": ("lora", "down"), ".lora_linear_layer.up.weight": ("lora", "up"),
    "_lora.down.weight": ("lora", "down"), "_lora.up.weight": ("lora", "up"),  # attention-processor format
    ".hada_w1_a": ("loha", "w1_a"), ".hada_w1_b": ("loha", "w1_b"), ".hada_w2_a": ("loha", "w2_a"),
    ".hada_w2_b": ("loha", "w2_b"), ".hada_t1": ("loha", "t1"), ".hada_t2": ("loha", "t2"),
    ".lokr_w1": ("lokr", "w1"), ".lokr_w1_a": ("lokr", "w1_a"), ".lokr_w1_b": ("lokr", "w1_b"),
    ".lokr_w2": ("lokr", "w2"), ".lokr_w2_a": ("lokr", "w2_a"), ".lokr_w2_b": ("lokr", "w2_b"),
    ".lokr_t1": ("lokr", "t1"), ".lokr_t2": ("lokr", "t2"),
    ".diff": ("diff", "diff"),  # a full weight difference (ComfyUI's LoraSave, LyCORIS "full" networks)
    ".alpha": (None, "alpha"), ".dora_scale": (None, "dora_scale"), ".diff_b": (None, "diff_b"),
}
_ORDERED_SUFFIXES = sorted(SUFFIXES, key=len, reverse=True)
REQUIRED = {"lora": ({"down"}, {"up"}), "loha": ({"w1_a"}, {"w1_b"}, {"w2_a"}, {"w2_b"}),
            "lokr": ({"w1", "w1_a"}, {"w2", "w2_a"}), "diff": ({"diff"},)}


class LoraError(UserFacingError):
    """A LoRA file cannot be used; the message says what to do."""

    def __init__(self, path: str | Path | None, message: str) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(message)


class NotALoraError(LoraError):
    """The file is something else (a checkpoint, an embedding); the message says where it belongs."""


class LoraFamilyError(LoraError):
    """The LoRA was trained for another base model family than the model it is applied to."""


@dataclass
class LoraPatch:
    """The tensors of one target layer, by role (`down`, `up`, `mid`, `w1_a`, ...), plus alpha and DoRA scale."""

    key: str
    kind: str
    tensors: dict[str, torch.Tensor]
    alpha: float | None = None
    dora_scale: torch.Tensor | None = None
    bias_diff: torch.Tensor | None = None  # a difference for the layer's bias (`.diff_b`), beside its weight patch

    @property
    def rank(self) -> int | None:
        """The rank that alpha divides by: rows of the down (or LoHa/LoKr `_b`) matrix; None for full LoKr."""
        for role in ("down", "w1_b", "w2_b"):
            if role in self.tensors:
                return int(self.tensors[role].shape[0])
        return None


@dataclass
class LoraFile:
    """A read LoRA file: its patches by key prefix, metadata, and the tensors no role was recognised for."""

    path: Path | None
    patches: dict[str, LoraPatch]
    metadata: dict[str, str] = field(default_factory=dict)
    unrecognised: list[str] = field(default_factory=list)

    @property
    def family(self) -> str | None:
        """The base family the file targets ("SD1.x", "SD2.x", "SDXL") or None when it cannot be told."""
        return detect_family(self.patches, self.metadata)


def read_lora(path: str | Path) -> LoraFile:
    """Read a .safetensors (or weights-only pickle) LoRA file into a LoraFile, refusing files that are not LoRAs."""
    path = Path(path)
    tensors, metadata = _load_tensors(path)
    return lora_from_state_dict(tensors, metadata, path)


def lora_from_state_dict(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None,
                         path: str | Path | None = None) -> LoraFile:
    """Group a LoRA state dict into patches (also for LoRAs that arrive in memory)."""
    where = str(path) if path is not None else "this file"
    if any(key.startswith(CHECKPOINT_PREFIXES) for key in tensors):
        raise NotALoraError(path, f"{where} is a full checkpoint, not a LoRA: put it in models/checkpoints and "
                                  f"load it with the Load Checkpoint node.")
    groups: dict[str, dict[str, torch.Tensor]] = {}
    kinds: dict[str, set[str]] = {}
    unrecognised = []
    for key, tensor in tensors.items():
        suffix = next((s for s in _ORDERED_SUFFIXES if key.endswith(s)), None)
        if suffix is None or not isinstance(tensor, torch.Tensor):
            unrecognised.append(key)
            continue
        kind, role = SUFFIXES[suffix]
        prefix = key[: -len(suffix)]
        groups.setdefault(prefix, {})[role] = tensor
        if kind is not None:
            kinds.setdefault(prefix, set()).add(kind)
    patches = {}
    for prefix, roles in groups.items():
        patch = _make_patch(prefix, roles, kinds.get(prefix, set()), where)
        if patch is None:
            unrecognised.extend(f"{prefix}.{role}" for role in roles)
        else:
            patches[prefix] = patch
    if not patches:
        raise NotALoraError(path, _not_a_lora_message(where, tensors))
    if unrecognised:
        logger.warning("%s: %d tensors are not LoRA weights and are ignored (e.g. %s)", where, len(unrecognised),
                       ", ".join(unrecognised[:3]))
    kept = {key: str(value) for key, value in (metadata or {}).items()}
    return LoraFile(Path(path) if path is not None else None, patches, kept, unrecognised)


def detect_family(patches: Mapping[str, LoraPatch], metadata: Mapping[str, str]) -> str | None:
    """The base family from metadata (kohya's `ss_base_model_version`, `modelspec.architecture`), else key names
    (two text encoders mean SDXL), else the text width a cross-attention key/value or text-encoder layer reads."""
    version = f"{metadata.get('ss_base_model_version', '')} {metadata.get('modelspec.architecture', '')}".lower()
    for marker, family in (("xl", "SDXL"), ("v2", "SD2.x"), ("v1", "SD1.x")):
        if marker in version:
            return family
    if any(key.startswith(("lora_te1_", "lora_te2_", "text_encoder_2.")) for key in patches):
        return "SDXL"
    for key, patch in patches.items():
        reads_text = any(part in key for part in ("attn2_to_k", "attn2_to_v", "attn2.to_k", "attn2.to_v"))
        text_layer = key.startswith(("lora_te_", "text_encoder.")) and ("q_proj" in key or "k_proj" in key)
        if not (reads_text or text_layer):
            continue
        width = _input_width(patch)
        if width in CONTEXT_WIDTHS and (reads_text or width != 2048):
            return CONTEXT_WIDTHS[width]
    return None


def check_family(lora: LoraFile, model_family: str | None) -> None:
    """Raise LoraFamilyError when the LoRA's known family is not the model's."""
    family = lora.family
    if model_family is None or family is None or family == str(model_family):
        return
    name = lora.path.name if lora.path is not None else "the LoRA"
    raise LoraFamilyError(lora.path, f"{name} is a LoRA for {family} but the model is {model_family}: load a "
                                     f"{family} checkpoint, or pick a LoRA trained for {model_family}.")


def _input_width(patch: LoraPatch) -> int | None:
    for role in ("down", "w1_b"):
        if role in patch.tensors and patch.tensors[role].dim() >= 2:
            return int(patch.tensors[role].shape[1])
    return None


def _make_patch(prefix: str, roles: dict[str, torch.Tensor], kinds: set[str], where: str) -> LoraPatch | None:
    if len(kinds) > 1:
        raise LoraError(None, f"{where}: layer {prefix} mixes {' and '.join(sorted(kinds))} weights; the file is "
                              f"damaged or in an unknown format.")
    if not kinds:
        return None  # a lone alpha or dora_scale: nothing to apply
    kind = kinds.pop()
    missing = [" or ".join(sorted(options)) for options in REQUIRED[kind] if not options & roles.keys()]
    if missing:
        raise LoraError(None, f"{where}: {kind} layer {prefix} lacks {', '.join(missing)}; the file is incomplete "
                              f"(an interrupted download?) - download it again.")
    alpha = roles.pop("alpha", None)
    dora = roles.pop("dora_scale", None)
    bias = roles.pop("diff_b", None)
    return LoraPatch(prefix, kind, roles, None if alpha is None else float(alpha.float().reshape(-1)[0]), dora, bias)


def _not_a_lora_message(where: str, tensors: Mapping[str, torch.Tensor]) -> str:
    keys = set(tensors)
    if {"clip_l", "clip_g"} <= keys or "emb_params" in keys or any(k.startswith("string_to_param") for k in keys):
        return (f"{where} is a textual-inversion embedding, not a LoRA: put it in models/embeddings and use it "
                f"in a prompt as embedding:<name>.")
    sample = ", ".join(sorted(keys)[:3])
    return f"{where} has no LoRA weights (keys like {sample or 'none'}); it is not a LoRA file."


def _load_tensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.is_file():
        raise LoraError(path, f"LoRA file {path} does not exist; put LoRAs in models/loras.")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            return read_all_tensors(path)  # into memory of their own: the file may be rewritten while in use
        except CheckpointError as error:  # names the file and what to do
            raise LoraError(path, str(error)) from None
    if suffix in PICKLE_SUFFIXES:
        try:
            loaded = torch.load(str(path), map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
            raise LoraError(path, f"{path} needs more than plain tensors to load, which could run code; it was "
                                  f"refused. Use a .safetensors version of this LoRA.") from error
        if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
            loaded = loaded["state_dict"]
        if not isinstance(loaded, dict):
            raise LoraError(path, f"{path} does not hold a dictionary of tensors; it is not a LoRA file.")
        return {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}, {}
    raise LoraError(path, f"{path}: unknown LoRA file type {suffix or '(none)'}; expected .safetensors "
                          f"(or {', '.join(PICKLE_SUFFIXES)}).")
