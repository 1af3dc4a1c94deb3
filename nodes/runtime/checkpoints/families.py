"""Model families Latentloom cannot run (FLUX.1, SD3, Stable Cascade, video models ...), told from a file's header.

Users download these into the same folders as their Stable Diffusion files. Such a file is valid, so it must be named
for what it is rather than called unknown (or, worse, installed as a checkpoint of unknown base). Keys are looked at
with and without the prefixes files put before a diffusion model (`model.diffusion_model.` in a full checkpoint,
none in a file of the diffusion model alone); which keys identify a family follows ComfyUI's model detection. Only
key names and a few shapes are read, never a tensor.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Shapes = Mapping[str, Sequence[int]]

SUPPORTED_FAMILIES = "Stable Diffusion 1.x, 2.x and SDXL"
# what comes before a diffusion model's own keys: full checkpoints, audio models, Cosmos, AuraFlow and others
DIFFUSION_PREFIXES = ("model.diffusion_model.", "model.model.", "diffusion_model.", "net.", "model.")
VAE_DECODER_INPUTS = ("decoder.conv_in.weight", "first_stage_model.decoder.conv_in.weight",
                      "vae.decoder.conv_in.weight")


@dataclass(frozen=True)
class ForeignFamily:
    """A model family Latentloom cannot run: `name` as users know it, what it makes (`medium`), and the part of it
    a file holds (`part`: "" for the diffusion model, "vae" for a VAE of that family)."""

    name: str
    medium: str
    part: str = ""

    @property
    def article(self) -> str:
        """'a' or 'an' before the name, as it is spoken (an SD3, an LTX-Video, a FLUX.1)."""
        return "an" if self.name[0] in "AEIOU" or self.name.startswith(("SD", "LTX")) else "a"

    @property
    def description(self) -> str:
        """What the file is, in words: "a FLUX.1 image model", "a VAE for FLUX.1 / SD3"."""
        return f"a VAE for {self.name}" if self.part == "vae" else f"{self.article} {self.name} {self.medium} model"

    @property
    def unsupported(self) -> str:
        """The sentence users see beside the file."""
        return f"Latentloom cannot run {self.name} models (it runs {SUPPORTED_FAMILIES})"


class _Keys:
    """A header's keys, each also without its diffusion-model prefix, with their shapes."""

    def __init__(self, shapes: Shapes) -> None:
        self.shapes: dict[str, Sequence[int]] = dict(shapes)
        for key, shape in shapes.items():
            prefix = next((p for p in DIFFUSION_PREFIXES if key.startswith(p)), None)
            if prefix is not None:
                self.shapes.setdefault(key[len(prefix):], shape)

    def has(self, *keys: str) -> bool:
        return all(key in self.shapes for key in keys)

    def any(self, *keys: str) -> bool:
        return any(key in self.shapes for key in keys)

    def size(self, key: str, axis: int) -> int | None:
        shape = self.shapes.get(key)
        return int(shape[axis]) if shape is not None and len(shape) > axis else None


_MMDIT = "joint_blocks.0.context_block.attn.qkv.weight"
_LTX = "adaln_single.emb.timestep_embedder.linear_1.bias"
_SDXL_SIZE_INPUT = "label_emb.0.0.weight"  # its width says which SDXL-like UNet it is

# (name, medium, test); the first match wins, so a family comes before another whose keys it shares
FAMILIES: tuple[tuple[str, str, Callable[[_Keys], bool]], ...] = (
    ("HunyuanVideo", "video", lambda k: k.has("txt_in.individual_token_refiner.blocks.0.norm1.weight")),
    ("FLUX.2", "image", lambda k: k.has("double_stream_modulation_img.lin.weight")),
    ("Chroma", "image", lambda k: k.any(*(f"distilled_guidance_layer.{block}norms.0.{name}"
                                          for block in ("", "0.") for name in ("scale", "weight")))),
    ("FLUX.1", "image", lambda k: k.has("img_in.weight") and k.any("double_blocks.0.img_attn.norm.key_norm.scale",
                                                                   "double_blocks.0.img_attn.norm.key_norm.weight")),
    # SD3.5 Large is 38 blocks of 64 channels per head; SD3.5 Medium adds self-attention to the first blocks
    ("SD3.5", "image", lambda k: k.has(_MMDIT) and (k.has("joint_blocks.0.x_block.attn2.qkv.weight")
                                                    or k.size("x_embedder.proj.weight", 0) == 38 * 64)),
    ("SD3", "image", lambda k: k.has(_MMDIT)),
    ("Stable Cascade", "image", lambda k: k.has("clf.1.weight")),
    ("AuraFlow", "image", lambda k: k.has("double_layers.0.attn.w1q.weight")),
    ("HunyuanDiT", "image", lambda k: k.has("mlp_t5.0.weight")),
    ("Mochi", "video", lambda k: k.has("t5_yproj.weight")),
    ("PixArt", "image", lambda k: k.has("t_block.1.weight") or k.has(_LTX, "pos_embed.proj.bias")),
    ("LTX-2", "video", lambda k: k.has(_LTX, "audio_adaln_single.linear.weight")),
    ("LTX-Video", "video", lambda k: k.has(_LTX)),
    ("Wan", "video", lambda k: k.has("head.modulation")),
    ("Cosmos", "video", lambda k: k.has("blocks.block0.blocks.0.block.attn.to_q.0.weight")
     or k.has("blocks.0.mlp.layer1.weight", "x_embedder.proj.1.weight")),
    ("Z-Image", "image", lambda k: k.has("noise_refiner.0.attention.k_norm.weight")
     and k.size("cap_embedder.1.weight", 0) == 3840),
    ("Lumina 2", "image", lambda k: k.has("cap_embedder.1.weight", "noise_refiner.0.attention.k_norm.weight")),
    ("HiDream", "image", lambda k: k.has("caption_projection.0.linear.weight")),
    ("Qwen-Image", "image", lambda k: k.has("txt_norm.weight", "img_in.weight")),
    ("Stable Audio", "audio", lambda k: k.has("transformer.rotary_pos_emb.inv_freq")),
    ("ACE-Step", "audio", lambda k: k.has("genre_embedder.weight")),
    ("Hunyuan3D", "3D", lambda k: k.has("latent_in.weight", "cond_in.weight")),
    # UNets laid out like Stable Diffusion's, told apart by what they add
    ("Stable Video Diffusion", "video", lambda k: k.has("input_blocks.1.1.time_stack.0.attn1.to_q.weight")),
    ("SDXL refiner", "image", lambda k: k.size(_SDXL_SIZE_INPUT, 1) == 2560),
    ("Kolors", "image", lambda k: k.size(_SDXL_SIZE_INPUT, 1) == 5632 or k.size("encoder_hid_proj.weight", 1) == 4096),
)
# a lone VAE whose latents have 16 channels (FLUX.1's ae.safetensors, SD3's VAE); SD's have 4
VAE_16_CHANNELS = ForeignFamily("FLUX.1 / SD3", "image", "vae")


def foreign_family(shapes: Shapes) -> ForeignFamily | None:
    """The family of a model (or of its VAE) that Latentloom cannot run, or None: SD1.x/SD2.x/SDXL, LoRAs,
    embeddings and files of no known family are all None."""
    keys = _Keys(shapes)
    for name, medium, test in FAMILIES:
        if test(keys):
            return ForeignFamily(name, medium)
    if any(keys.size(key, 1) == 16 for key in VAE_DECODER_INPUTS):
        return VAE_16_CHANNELS
    return None
