"""Recognise an upscale model's architecture from its state dict's key names and shapes (no tensor is read).

Three key layouts hold the same ESRGAN RRDBNet: the original ESRGAN repository's "old arch" (`model.0`,
`model.1.sub.N.RDBk.convj.0`, `model.3` ...), its later "new arch" (`conv_first`, `RRDB_trunk.N.RDBk.convj`,
`trunk_conv`, `upconv1` ...) and BasicSR's, which RealESRGAN writes (`conv_first`, `body.N.rdbk.convj`,
`conv_body`, `conv_up1` ...). Each is renamed to BasicSR's names, the ones our RRDBNet module uses. RealESRGAN x2
and x1 models fold the image with pixel-unshuffle first: their first convolution reads 4 or 16 times the channels
the last one writes. SRVGGNetCompact (RealESRGAN's compact and animevideo models) already uses `body.N` names.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Shapes = Mapping[str, Sequence[int]]

# Wrappers training code saves around the weights (BasicSR's "params_ema"/"params", DataParallel's "module.").
WRAPPER_PREFIXES = ("params_ema.", "params.", "module.")
ARCHITECTURES = "ESRGAN/RealESRGAN RRDBNet, RealESRGAN SRVGGNetCompact"

_OLD_RDB = re.compile(r"model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.(weight|bias)$")
_OLD_TOP = re.compile(r"model\.(\d+)\.(weight|bias)$")
_ESRGAN_RDB = re.compile(r"RRDB_trunk\.(\d+)\.RDB([123])\.conv([1-5])\.(weight|bias)$")
_ESRGAN_UP = re.compile(r"upconv(\d+)\.(weight|bias)$")
_BASICSR_UP = re.compile(r"conv_up(\d+)\.(weight|bias)$")
_BODY_RDB = re.compile(r"body\.(\d+)\.rdb[123]\.conv[1-5]\.weight$")
_COMPACT_BODY = re.compile(r"body\.(\d+)\.weight$")
_ESRGAN_NAMES = {"trunk_conv": "conv_body", "HRconv": "conv_hr"}


@dataclass(frozen=True)
class RRDBNetConfig:
    """ESRGAN's RRDBNet: `upsamplings` nearest 2x steps after `unshuffle`-fold pixel-unshuffle of the input."""

    in_channels: int
    out_channels: int
    features: int
    blocks: int
    growth: int
    upsamplings: int
    unshuffle: int

    @property
    def scale(self) -> int:
        return 2 ** self.upsamplings // self.unshuffle

    @property
    def name(self) -> str:
        return "RRDBNet (ESRGAN)"


@dataclass(frozen=True)
class CompactConfig:
    """RealESRGAN's SRVGGNetCompact: `convolutions` body convolutions each followed by a PReLU, then pixel-shuffle."""

    in_channels: int
    out_channels: int
    features: int
    convolutions: int
    scale: int

    @property
    def name(self) -> str:
        return "SRVGGNetCompact (RealESRGAN compact)"


UpscaleConfig = RRDBNetConfig | CompactConfig


@dataclass(frozen=True)
class DetectedUpscaleModel:
    """The config to build, and for each stored key the module key it fills (keys not named are not used)."""

    config: UpscaleConfig
    layout: str  # the key layout found, in words
    renames: dict[str, str]


class UnknownUpscaleLayout(ValueError):
    """The keys match none of the layouts; the message says what was found."""


def _strip_wrappers(keys: Sequence[str]) -> dict[str, str]:
    """stored key -> key without the training wrapper; of "params_ema" and "params" only the first is used."""
    for prefix in WRAPPER_PREFIXES:
        if any(key.startswith(prefix) for key in keys):
            return {key: key[len(prefix):] for key in keys if key.startswith(prefix)}
    return {key: key for key in keys}


def detect_upscale_model(shapes: Shapes) -> DetectedUpscaleModel:
    """The architecture, its config and the key renames; UnknownUpscaleLayout says what was found otherwise."""
    unwrapped = _strip_wrappers(list(shapes))
    plain = {bare: tuple(shapes[stored]) for stored, bare in unwrapped.items()}
    if "model.0.weight" in plain and any(_OLD_RDB.match(key) for key in plain):
        renames, layout = _old_arch_renames(plain), "ESRGAN (original 'old arch' keys)"
    elif "conv_first.weight" in plain and any(_ESRGAN_RDB.match(key) for key in plain):
        renames, layout = _esrgan_renames(plain), "ESRGAN (conv_first/RRDB_trunk keys)"
    elif "conv_first.weight" in plain and any(_BODY_RDB.match(key) for key in plain):
        renames, layout = {key: _basicsr_name(key) for key in plain}, "RealESRGAN / BasicSR (conv_first/body keys)"
    elif "body.0.weight" in plain and "body.1.weight" in plain and len(plain["body.1.weight"]) == 1:
        return _compact(plain, dict(unwrapped))
    else:
        raise UnknownUpscaleLayout(_found(list(shapes)))
    canonical = {renames[key]: shape for key, shape in plain.items()}
    config = _rrdbnet_config(canonical)
    return DetectedUpscaleModel(config, layout, {stored: renames[bare] for stored, bare in unwrapped.items()})


def _found(keys: Sequence[str]) -> str:
    examples = ", ".join(f"'{key}'" for key in sorted(keys)[:4])
    return f"its {len(keys)} weights ({examples} ...) match no upscale architecture Latentloom knows ({ARCHITECTURES})"


def _basicsr_name(key: str) -> str:
    found = _BASICSR_UP.match(key)
    return f"upsample_convs.{int(found.group(1)) - 1}.{found.group(2)}" if found else key


def _dense_conv_name(found: re.Match) -> str:
    """BasicSR's name for a dense-block convolution matched by _OLD_RDB or _ESRGAN_RDB."""
    block, dense, conv, kind = found.groups()
    return f"body.{block}.rdb{dense}.conv{conv}.{kind}"


def _esrgan_renames(plain: Shapes) -> dict[str, str]:
    renames = {}
    for key in plain:
        rdb, up = _ESRGAN_RDB.match(key), _ESRGAN_UP.match(key)
        if rdb:
            renames[key] = _dense_conv_name(rdb)
        elif up:
            renames[key] = f"upsample_convs.{int(up.group(1)) - 1}.{up.group(2)}"
        else:
            head, _, kind = key.rpartition(".")
            renames[key] = f"{_ESRGAN_NAMES.get(head, head)}.{kind}"
    return renames


def _old_arch_renames(plain: Shapes) -> dict[str, str]:
    """model.0 first conv; model.1.sub.N the blocks, model.1.sub.<blocks> the trunk conv; then per 2x step an
    upsample, a conv and an activation (convs at 3, 6, ...); then the HR conv and, after its activation, the last."""
    top = sorted({int(found.group(1)) for key in plain if (found := _OLD_TOP.match(key))})
    later = [index for index in top if index >= 2]
    if len(later) < 2:
        raise UnknownUpscaleLayout(f"the ESRGAN keys end at model.{top[-1]}: the final convolutions are missing")
    upsamplings = (later[-2] - 2) // 3
    if later != [3 + 3 * step for step in range(upsamplings)] + [2 + 3 * upsamplings, 4 + 3 * upsamplings]:
        raise UnknownUpscaleLayout(f"ESRGAN keys with convolutions at model.{later}, an upsampling layout "
                                   f"Latentloom does not know (it reads 1x, 2x, 4x and 8x models)")
    blocks = sorted({int(found.group(1)) for key in plain if (found := _OLD_RDB.match(key))})
    names = {0: "conv_first", later[-2]: "conv_hr", later[-1]: "conv_last"}
    names.update({3 + 3 * step: f"upsample_convs.{step}" for step in range(upsamplings)})
    renames = {}
    for key in plain:
        rdb, top_conv = _OLD_RDB.match(key), _OLD_TOP.match(key)
        if rdb:
            renames[key] = _dense_conv_name(rdb)
        elif top_conv and int(top_conv.group(1)) in names:
            renames[key] = f"{names[int(top_conv.group(1))]}.{top_conv.group(2)}"
        elif key.startswith(f"model.1.sub.{len(blocks)}."):
            renames[key] = "conv_body." + key.rsplit(".", 1)[1]
        else:
            renames[key] = key  # not ours: reported by the loader as unused
    return renames


def _rrdbnet_config(canonical: Shapes) -> RRDBNetConfig:
    for needed in ("conv_first.weight", "conv_body.weight", "conv_hr.weight", "conv_last.weight",
                   "body.0.rdb1.conv1.weight"):
        if needed not in canonical:
            raise UnknownUpscaleLayout(f"an RRDBNet without its '{needed}' weight (or a variant Latentloom does not "
                                       f"know)")
    features, in_channels = canonical["conv_first.weight"][:2]
    out_channels = canonical["conv_last.weight"][0]
    upsamplings = len({key.split(".")[1] for key in canonical if key.startswith("upsample_convs.")})
    unshuffle = {out_channels * 4: 2, out_channels * 16: 4}.get(in_channels, 1)
    blocks = len({key.split(".")[1] for key in canonical if key.startswith("body.")})
    config = RRDBNetConfig(in_channels=in_channels // unshuffle ** 2, out_channels=out_channels, features=features,
                           blocks=blocks, growth=canonical["body.0.rdb1.conv1.weight"][0], upsamplings=upsamplings,
                           unshuffle=unshuffle)
    if 2 ** upsamplings < unshuffle:
        raise UnknownUpscaleLayout(f"an RRDBNet that unshuffles by {unshuffle} but upsamples only by "
                                   f"{2 ** upsamplings}: a downscaling variant Latentloom does not know")
    return config


def _compact(plain: Shapes, renames: dict[str, str]) -> DetectedUpscaleModel:
    indices = sorted(int(found.group(1)) for key in plain if (found := _COMPACT_BODY.match(key)))
    last = indices[-1]
    features, in_channels = plain["body.0.weight"][:2]
    if indices != list(range(last + 1)) or last % 2:
        raise UnknownUpscaleLayout(f"an SRVGGNetCompact-like model whose body weights are at {indices}: Latentloom "
                                   f"reads only the PReLU variant (a weight at every index)")
    scale = math.isqrt(plain[f"body.{last}.weight"][0] // in_channels)
    if scale * scale * in_channels != plain[f"body.{last}.weight"][0]:
        raise UnknownUpscaleLayout(f"an SRVGGNetCompact whose last convolution writes {plain[f'body.{last}.weight'][0]}"
                                   f" channels, not {in_channels} times a square scale")
    config = CompactConfig(in_channels=in_channels, out_channels=in_channels, features=features,
                           convolutions=(last - 2) // 2, scale=scale)
    return DetectedUpscaleModel(config, "RealESRGAN SRVGGNetCompact (body keys)", renames)
