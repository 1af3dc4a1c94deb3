"""A1111 hypernetworks: small MLPs, one pair per attention width, that add to the keys and values of the UNet's
attention (ComfyUI's HypernetworkLoader applies them as attn1 and attn2 patches).

An A1111 .pt file pickles a dict of plain values: for each width (320, 640, 768, 1280...) a list of two layer dicts
(the key net, then the value net), each `linear.N.weight`/`.bias` in order, layer-norm weights among them when
`is_layer_norm`; beside them the training options (`activation_func`, `is_layer_norm`, `activate_output`...). A net
is Linear layers, each followed by the activation (not after the last unless `activate_output`) and then, with
`is_layer_norm`, a layer norm. Dropout is a training-time layer and is left out.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import CheckpointError, classify_file, open_checkpoint_file
from .checkpoints.pickle_reader import load_pickle

log = logging.getLogger(__name__)

ACTIVATIONS = {"linear": None, "relu": torch.nn.ReLU, "leakyrelu": torch.nn.LeakyReLU, "elu": torch.nn.ELU,
               "swish": torch.nn.Hardswish, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
               "softsign": torch.nn.Softsign, "mish": torch.nn.Mish}


class HypernetworkError(CheckpointError):
    """A file given as a hypernetwork cannot be read as one; the message says why."""


@dataclass(eq=False)
class Hypernetwork:
    """Per attention width, the (key net, value net) pair."""

    nets: dict[int, tuple[torch.nn.Sequential, torch.nn.Sequential]]
    source: str


class HypernetworkPatch:
    """attn1/attn2 patch: where the attention's key input has a width the hypernetwork knows, key += net_k(key) *
    strength and value += net_v(value) * strength (the query input is unchanged)."""

    def __init__(self, hypernetwork: Hypernetwork, strength: float) -> None:
        self.hypernetwork = hypernetwork
        self.strength = strength

    def __call__(self, n: torch.Tensor, context: torch.Tensor, value: torch.Tensor,
                 extra_options: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pair = self.hypernetwork.nets.get(context.shape[-1])
        if pair is None:
            return n, context, value
        key_net, value_net = (net.to(context.device, context.dtype) for net in pair)
        with torch.no_grad():
            return n, context + key_net(context) * self.strength, value + value_net(value) * self.strength


def load_hypernetwork(path: str | Path) -> Hypernetwork:
    """The hypernetwork in an A1111 .pt file (read as plain values by the safe unpickler)."""
    path = Path(path)
    with open_checkpoint_file(path) as opened:
        kind = classify_file(opened.shapes, opened.metadata, str(path))
        file_format = opened.format
    if kind.kind not in ("hypernetwork", "unknown"):
        raise HypernetworkError(path, f"{path} is {kind.description}, not a hypernetwork: {kind.advice}")
    if kind.kind == "unknown" or file_format != "pickle":
        raise HypernetworkError(path, f"{path} is not an A1111 hypernetwork: such files are .pt pickles holding, per "
                                      f"attention width (320, 640, 768, 1280...), a key net and a value net.")
    data = load_pickle(path)
    activation = data.get("activation_func", "linear")
    if activation not in ACTIVATIONS:
        raise HypernetworkError(path, f"{path} uses the activation '{activation}', which hypernetworks here (as in "
                                      f"ComfyUI) do not support; supported: {', '.join(ACTIVATIONS)}.")
    layer_norm = bool(data.get("is_layer_norm", False))
    activate_output = bool(data.get("activate_output", False))
    nets = {}
    for width, pair in data.items():
        if isinstance(width, int) or (isinstance(width, str) and width.isdigit()):
            if not (isinstance(pair, (list, tuple)) and len(pair) >= 2 and all(isinstance(p, Mapping) for p in pair)):
                raise HypernetworkError(path, f"{path}: the entry for width {width} is not a pair of layer dicts.")
            nets[int(width)] = tuple(_net(layers, activation, layer_norm, activate_output, path) for layers in pair[:2])
    log.info("loaded %s: hypernetwork for widths %s, %s activation", path.name, sorted(nets), activation)
    return Hypernetwork(nets=nets, source=path.name)


def _net(layers: Mapping[str, torch.Tensor], activation: str, layer_norm: bool, activate_output: bool,
         path: Path) -> torch.nn.Sequential:
    names = sorted({key.removesuffix(".weight") for key in layers if key.endswith(".weight")}, key=_layer_number)
    modules: list[torch.nn.Module] = []
    position = 0
    linears = len(names) // 2 if layer_norm else len(names)
    for number in range(linears):
        weight, bias = _pair(layers, names[position], path)
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
        linear.load_state_dict({"weight": weight.float(), "bias": bias.float()})
        modules.append(linear)
        if ACTIVATIONS[activation] is not None and (number < linears - 1 or activate_output):
            modules.append(ACTIVATIONS[activation]())
        if layer_norm:
            position += 1
            weight, bias = _pair(layers, names[position], path)
            norm = torch.nn.LayerNorm(weight.shape[0])
            norm.load_state_dict({"weight": weight.float(), "bias": bias.float()})
            modules.append(norm)
        position += 1
    return torch.nn.Sequential(*modules).eval().requires_grad_(False)


def _pair(layers: Mapping[str, torch.Tensor], name: str, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    if f"{name}.bias" not in layers:
        raise HypernetworkError(path, f"{path}: layer '{name}' has a weight but no bias.")
    return layers[f"{name}.weight"], layers[f"{name}.bias"]


def _layer_number(name: str) -> int:
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) if match else -1
