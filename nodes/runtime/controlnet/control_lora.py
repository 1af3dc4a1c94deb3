"""Control-LoRAs (Stability AI): a ControlNet stored as low-rank changes to the UNet it is used with.

The file holds the hint embedding, zero convolutions and some layers in full (`<module>.weight`/`.bias`, original
names without prefix) and, for the other layers, a low-rank pair (`<module>.up`, `<module>.down`) whose product is
added to that layer's weight. The ControlNet is therefore built when sampling starts, from the sampled model's UNet,
and dropped when it ends, as ComfyUI does.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import torch

from ..checkpoints.meta_modules import empty_module, fill_module
from .controlnet_weights import hint_embedding_channels, original_name
from .controls import ControlNet
from .errors import ControlNetError

MARKER = "lora_controlnet"


class ControlLora(ControlNet):
    """A control-LoRA: a ControlNet whose module exists between pre_run and cleanup."""

    kind_word = "control-LoRA"

    def __init__(self, weights: dict[str, torch.Tensor], source: str) -> None:
        super().__init__(None, "", source)
        self.lora_weights = weights

    @property
    def hint_channels(self) -> int:
        return int(self.lora_weights["input_hint_block.0.weight"].shape[1])

    def copy(self) -> "ControlLora":
        other = ControlLora(self.lora_weights, self.source)
        self.copy_to(other)
        return other

    def pre_run(self, model: Any, percent_to_sigma: Any = None) -> None:
        self.control_model = build_control_lora(self.lora_weights, model, self.source)
        super().pre_run(model, percent_to_sigma)

    def cleanup(self) -> None:
        self.control_model = None
        super().cleanup()


def build_control_lora(weights: dict[str, torch.Tensor], model: Any, source: str) -> torch.nn.Module:
    """A diffusers ControlNetModel from `model`'s UNet: its weights, the file's full weights over them, then the
    file's low-rank changes added."""
    from diffusers import ControlNetModel

    unet = model.unet
    model.prepare()  # the UNet's weights as this model samples with them (its LoRAs on)
    accepted = set(inspect.signature(ControlNetModel.__init__).parameters) - {"self"}
    config = {key: value for key, value in unet.config.items() if key in accepted}
    shapes = {key: tuple(value.shape) for key, value in weights.items()}
    config.update(conditioning_channels=shapes["input_hint_block.0.weight"][1],
                  conditioning_embedding_out_channels=hint_embedding_channels(shapes))
    module = empty_module(lambda: ControlNetModel(**config))
    expected = module.state_dict()
    names = {original_name(key, config["layers_per_block"]): key for key in expected}
    device, dtype = model.device, model.dtype
    own = unet.state_dict()
    state = {key: own[key] for key in expected if key in own}
    for key, tensor in weights.items():
        if key.endswith((".weight", ".bias")) and key in names:
            state[names[key]] = tensor.to(device, dtype)
    for key in [key for key in weights if key.endswith(".up")]:
        target = names.get(key[:-len(".up")] + ".weight")
        if target is None or target not in state:
            raise ControlNetError(source, f"{source} is a control-LoRA with a change to '{key[:-3]}', which the "
                                          f"model's UNet ({model.source}) has not: it was made for another model.")
        change = weights[key].flatten(1).float() @ weights[key[:-len(".up")] + ".down"].flatten(1).float()
        if change.numel() != state[target].numel():
            raise ControlNetError(source, f"{source} is a control-LoRA for another model family than "
                                          f"{model.source} ({model.architecture}): its change to '{key[:-3]}' does "
                                          f"not fit.")
        state[target] = state[target] + change.reshape(state[target].shape).to(device, dtype)
    misfits = [key for key, value in state.items() if tuple(value.shape) != tuple(expected[key].shape)]
    if misfits:
        raise ControlNetError(source, f"{source} is a control-LoRA for another model family than {model.source} "
                                      f"({model.architecture}): its weight '{misfits[0]}' does not fit.")
    return fill_module(module, state, component="control-LoRA", path=Path(source), device=device)
