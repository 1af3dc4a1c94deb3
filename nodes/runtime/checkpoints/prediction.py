"""Decide whether a checkpoint predicts noise (epsilon) or velocity (v), which the weights' shapes cannot show.

The rule, first match wins:
1. A sidecar next to the file (same name, `.yaml`, `.yml` or `.json`), as A1111 and ComfyUI users know it:
   `prediction_type: v_prediction|epsilon` (also `parameterization: v|eps`), or an original LDM config whose
   `model.params.parameterization` is `"v"` (absent there means epsilon, the LDM default).
2. A `v_pred` marker tensor in the file (written by trainers for v-prediction SDXL/SD1.x models) -> v_prediction.
3. SD2.x with a 4-channel input (inpainting models are epsilon): if the first transformer of the UNet's last output
   block has a norm1 bias whose standard deviation is above 0.09, v_prediction (ComfyUI's heuristic: SD2.x's 768-v
   fine-tune moved that bias far from the 512 epsilon base's).
   The SD x4 upscaler (x4_upscaler.py) is v_prediction.
4. Otherwise epsilon.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from .architecture import Architecture, CheckpointArchitecture
from .checkpoint_file import CheckpointFile
from .errors import SidecarConfigError
from . import x4_upscaler
from .unet_config import UNET_PREFIX

log = logging.getLogger(__name__)

EPSILON = "epsilon"
V_PREDICTION = "v_prediction"
SIDECAR_SUFFIXES = (".yaml", ".yml", ".json")
SD2_V_BIAS_STD = 0.09
NAMES = {"epsilon": EPSILON, "eps": EPSILON, "v_prediction": V_PREDICTION, "v": V_PREDICTION,
         "v-prediction": V_PREDICTION, "vpred": V_PREDICTION, "v_pred": V_PREDICTION}


@dataclass(frozen=True)
class PredictionChoice:
    """The prediction type and which rule chose it (for the log and for users asking why)."""

    prediction_type: str
    reason: str


def choose_prediction_type(checkpoint: CheckpointFile, detected: CheckpointArchitecture) -> PredictionChoice:
    """Apply the module's rule to an open checkpoint whose architecture is known."""
    sidecar = read_sidecar(checkpoint.path)
    if sidecar is not None:
        return sidecar
    if "v_pred" in checkpoint.shapes:
        return PredictionChoice(V_PREDICTION, "the file has a v_pred marker")
    if x4_upscaler.is_x4_unet_config(detected.unet_config):
        return PredictionChoice(x4_upscaler.PREDICTION_TYPE, "the SD x4 upscaler predicts v")
    if detected.architecture is Architecture.SD2 and detected.unet_config["in_channels"] == 4:
        key = _last_output_norm_bias(checkpoint.shapes)
        if key is not None:
            spread = float(checkpoint.tensor(key).float().std(unbiased=False))
            if spread > SD2_V_BIAS_STD:
                return PredictionChoice(V_PREDICTION, f"SD2.x heuristic: std of {key} is {spread:.3f} > 0.09")
            return PredictionChoice(EPSILON, f"SD2.x heuristic: std of {key} is {spread:.3f} <= 0.09")
    return PredictionChoice(EPSILON, f"default for {detected.architecture}")


def read_sidecar(path: str | Path) -> PredictionChoice | None:
    """The prediction type a sidecar file next to `path` sets, or None when there is none (or it sets none).

    A file's sidecar replaces its suffix (`model.yaml` for `model.safetensors`); a diffusers folder's adds one
    (`sd-2.1.yaml` for the folder `sd-2.1`)."""
    path = Path(path)
    for suffix in SIDECAR_SUFFIXES:
        sidecar = path.with_name(path.name + suffix) if path.is_dir() else path.with_suffix(suffix)
        if sidecar.is_file():
            value = _sidecar_value(sidecar)
            if value is not None:
                return PredictionChoice(value, f"set by {sidecar.name}")
            log.warning("%s sets no prediction type; using the built-in rule for %s", sidecar, path.name)
    return None


def read_model_config(config: str | Path) -> PredictionChoice | None:
    """The prediction type a model config chosen by the user sets (an LDM .yaml from models/configs, read like a
    sidecar), or None when it sets none."""
    value = _sidecar_value(Path(config))
    return PredictionChoice(value, f"set by {Path(config).name}") if value is not None else None


def _sidecar_value(sidecar: Path) -> str | None:
    try:
        text = sidecar.read_text(encoding="utf-8")
        if sidecar.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as error:  # unreadable text, bad JSON or YAML
        raise SidecarConfigError(sidecar, f"{sidecar} (next to the checkpoint) could not be read: {error}. Fix or "
                                          f"remove it.") from None
    if not isinstance(data, dict):
        raise SidecarConfigError(sidecar, f"{sidecar} should hold a mapping such as "
                                          f"'prediction_type: v_prediction'. Fix or remove it.")
    raw = data.get("prediction_type", data.get("parameterization"))
    ldm_params = (data.get("model") or {}).get("params") if isinstance(data.get("model"), dict) else None
    if raw is None and isinstance(ldm_params, dict):
        raw = ldm_params.get("parameterization", "eps")
    if raw is None:
        return None
    value = NAMES.get(str(raw).strip().lower())
    if value is None:
        raise SidecarConfigError(sidecar, f"{sidecar} sets the prediction type to '{raw}'; use 'epsilon' or "
                                          f"'v_prediction'.")
    return value


def _last_output_norm_bias(shapes) -> str | None:
    pattern = re.compile(re.escape(UNET_PREFIX) + r"output_blocks\.(\d+)\.1\.transformer_blocks\.0\.norm1\.bias$")
    found = [(int(m.group(1)), key) for key in shapes if (m := pattern.match(key))]
    return max(found)[1] if found else None
