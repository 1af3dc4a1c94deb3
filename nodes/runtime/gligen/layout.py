"""Read a GLIGEN file's layout from its keys and shapes: the position net ("position_net.linears.{0,2,4}", the two
null features) and the fusers, stored under the UNet block that runs them
("input_blocks.1.1.transformer_blocks.0.fuser.linear.weight", "middle_block.1...", "output_blocks.N...").

The fusers are numbered in the order the UNet runs its transformers (input blocks, middle, output blocks), which is
the order the UNet's running "transformer_index" follows. Heads follow the rule GLIGEN's SD1 files need and shapes
cannot show: grounding width 768 (SD1) means 8 heads, any other width 64 channels per head.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

FUSER_KEY = re.compile(r"^(input_blocks|middle_block|output_blocks)\.(\d+)\.(.*)\.fuser\.(.+)$")
SECTIONS = ("input_blocks", "middle_block", "output_blocks")
POSITION_PREFIX = "position_net."
SD1_GROUNDING_WIDTH = 768
SD1_HEADS = 8
HEAD_WIDTH = 64
MAX_OBJECTS = 30  # grounding slots: GLIGEN was trained with 30, unused ones hold the null features


@dataclass(frozen=True)
class FuserConfig:
    width: int  # the transformer block's channels (query width)
    grounding_width: int  # the grounding tokens' width (the position net's output)
    heads: int
    head_width: int


@dataclass(frozen=True)
class PositionNetConfig:
    phrase_width: int  # the pooled text embedding's width
    hidden: int
    grounding_width: int
    fourier_frequencies: int

    @property
    def box_width(self) -> int:
        """sin and cos of four coordinates at each frequency."""
        return self.fourier_frequencies * 2 * 4


class NotAGligenLayout(ValueError):
    """The keys are not a GLIGEN model's; the message says what is missing."""


@dataclass(frozen=True)
class GligenLayout:
    position: PositionNetConfig
    fusers: list[FuserConfig]
    renames: dict[str, str]  # file key -> GligenNetwork parameter name


def read_gligen_layout(shapes: Mapping[str, Sequence[int]]) -> GligenLayout:
    """The networks' sizes and where each file tensor goes; NotAGligenLayout when the keys are something else."""
    position = _position_net(shapes)
    fuser_prefixes = sorted({(SECTIONS.index(m[1]), int(m[2]), m[3]) for m in map(FUSER_KEY.match, shapes) if m},
                            key=lambda found: (*found[:2], _natural(found[2])))
    if not fuser_prefixes:
        raise NotAGligenLayout("it has no gated self-attention fusers ('...transformer_blocks.N.fuser.' keys)")
    renames = {key: key for key in shapes if key.startswith(POSITION_PREFIX)}
    fusers = []
    for index, (section, block, inner) in enumerate(fuser_prefixes):
        prefix = f"{SECTIONS[section]}.{block}.{inner}.fuser."
        projection = shapes.get(prefix + "linear.weight")
        if projection is None or len(projection) != 2:
            raise NotAGligenLayout(f"the fuser at {prefix} has no 'linear.weight' projection")
        width, grounding = int(projection[0]), int(projection[1])
        if grounding != position.grounding_width:
            raise NotAGligenLayout(f"the fuser at {prefix} reads {grounding}-wide grounding tokens but the position "
                                   f"net makes {position.grounding_width}-wide ones")
        heads = SD1_HEADS if grounding == SD1_GROUNDING_WIDTH else width // HEAD_WIDTH
        if heads == 0 or width % heads:
            raise NotAGligenLayout(f"the fuser at {prefix} is {width} wide, which {heads} heads cannot split")
        fusers.append(FuserConfig(width=width, grounding_width=grounding, heads=heads, head_width=width // heads))
        renames.update({key: f"fusers.{index}.{key[len(prefix):]}" for key in shapes if key.startswith(prefix)})
    return GligenLayout(position, fusers, renames)


def _natural(text: str) -> tuple:
    """'1.transformer_blocks.10' after '1.transformer_blocks.2'."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in text.split("."))


def _position_net(shapes: Mapping[str, Sequence[int]]) -> PositionNetConfig:
    needed = ("null_positive_feature", "null_position_feature", "linears.0.weight", "linears.4.weight")
    missing = [name for name in needed if POSITION_PREFIX + name not in shapes]
    if missing:
        raise NotAGligenLayout(f"it has no GLIGEN position net (no '{POSITION_PREFIX}{missing[0]}')")
    box_width = int(shapes[POSITION_PREFIX + "null_position_feature"][0])
    if box_width % 8:
        raise NotAGligenLayout(f"its box features are {box_width} wide, not sin and cos of 4 coordinates")
    return PositionNetConfig(phrase_width=int(shapes[POSITION_PREFIX + "null_positive_feature"][0]),
                             hidden=int(shapes[POSITION_PREFIX + "linears.0.weight"][0]),
                             grounding_width=int(shapes[POSITION_PREFIX + "linears.4.weight"][0]),
                             fourier_frequencies=box_width // 8)
