"""Load a ControlNet or T2I-Adapter file into the control object a CONTROL_NET wire carries."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..checkpoints import classify_file, open_checkpoint_file
from ..devices import model_manager
from .control_lora import MARKER, ControlLora
from .controlnet_weights import build_controlnet
from .controls import ControlBase, ControlNet, T2IAdapter
from .detection import ControlLayout, UnsupportedControlModel, detect_control_layout
from .errors import ControlNetError
from .t2i_adapter import build_adapter

log = logging.getLogger(__name__)

WHERE_IT_GOES = "models/controlnet, loaded with Load ControlNet Model (ControlNetLoader)"
SHUFFLE_SUFFIXES = ("_shuffle", "_shuffle_fp16")  # ComfyUI's sign of a shuffle ControlNet (global pooling)


def load_control_model(path: str | Path, model: Any = None) -> ControlBase:
    """A ControlNet (SD1.x, SD2.x, SDXL; original or diffusers layout), control-LoRA or T2I-Adapter as a control
    object, on the device and in the dtype the memory manager picks. A diff ControlNet needs `model` (a
    DiffusionModel of its family): its weights are offsets from that model's UNet. A control-LoRA keeps its weights
    until sampling gives it the model it changes."""
    path = Path(path)
    manager = model_manager()
    with open_checkpoint_file(path) as opened:
        layout = _layout(opened.path, opened.shapes, opened.metadata)
        device = manager.load_device(_stored_bytes(opened.shapes))
        dtype = manager.weight_dtype()
        if layout.kind == "control_lora":
            weights = {key: opened.tensor(key) for key in opened.shapes if key != MARKER and "__" not in key}
            control = ControlLora(weights, path.name)
            log.info("loaded %s: control-LoRA (built from the sampled model's UNet when sampling starts)", path.name)
            return control
        if layout.kind == "t2i_adapter":
            config, module = build_adapter(opened, layout, device, dtype)
            control: ControlBase = T2IAdapter(module, config, path.name)
            description = f"{config.adapter_type} T2I-Adapter"
        else:
            architecture, module = build_controlnet(opened, layout, device, dtype, model)
            control = ControlNet(module, str(architecture), path.name,
                                 global_average_pooling=path.stem.endswith(SHUFFLE_SUFFIXES))
            description = f"{architecture} {'diff ' if layout.difference else ''}ControlNet ({layout.layout} layout)"
    manager.track(module, f"{path.name} {control.kind_word}")
    log.info("loaded %s: %s", path.name, description)
    return control


def _layout(path: Path, shapes, metadata) -> ControlLayout:
    try:
        layout = detect_control_layout(shapes)
    except UnsupportedControlModel as error:
        raise ControlNetError(path, f"{path} is {error}.") from None
    if layout is not None:
        return layout
    found = classify_file(shapes, metadata, str(path))
    if found.kind == "unknown":
        raise ControlNetError(path, f"{path} is not a ControlNet or T2I-Adapter: it has none of their weights "
                                    f"(input_hint_block, zero_convs, controlnet_cond_embedding, or an adapter's "
                                    f"conv_in and body).")
    base = f" ({found.base})" if found.base and found.kind == "checkpoint" else ""
    raise ControlNetError(path, f"{path} is {found.description}{base}, not a ControlNet (which goes in "
                                f"{WHERE_IT_GOES}): {found.advice}")


def _stored_bytes(shapes) -> int:
    count = 0
    for shape in shapes.values():
        elements = 2  # about half precision per weight, as most files store them
        for size in shape:
            elements *= size
        count += elements
    return count
