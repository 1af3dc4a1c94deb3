"""ComfyUI's `comfy.cli_args` for plugins: `args` with the start-up flags packs read, from Latentloom's own where it
has them (--cpu, --gpu-only, --lowvram, --dtype), else ComfyUI's defaults; `LatentPreviewMethod`.

`args` is read once, when the first plugin imports this module: after start-up recorded the flags.
"""
from __future__ import annotations

import argparse
import enum
from typing import Any

from nodes.comfy_compat.not_offered import AttributeNotOffered, attribute_not_offered
from nodes.runtime.devices import requested_device_settings


class LatentPreviewMethod(enum.Enum):
    NoPreviews = "none"
    Auto = "auto"
    Latent2RGB = "latent2rgb"
    TAESD = "taesd"


class ComfyArgs(argparse.Namespace):
    """ComfyUI's parsed flags; a flag Latentloom has no counterpart for is named as not offered."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeNotOffered("comfy.cli_args.args", name)


def _latentloom_args() -> ComfyArgs:
    settings = requested_device_settings()
    return ComfyArgs(
        # devices and precision: Latentloom's --cpu, --gpu-only, --lowvram and --dtype
        cpu=settings.mode == "cpu", gpu_only=settings.mode == "gpu_only", lowvram=settings.mode == "lowvram",
        highvram=False, novram=False, force_fp32=settings.dtype == "fp32", force_fp16=settings.dtype == "fp16",
        bf16_unet=settings.dtype == "bf16", fp16_unet=False, fp32_unet=False, fp16_vae=False, fp32_vae=False,
        bf16_vae=False, cpu_vae=False, disable_smart_memory=False, deterministic=False,
        # Latentloom's samplers always preview by the latent-to-RGB projection; files always carry the workflow
        preview_method=LatentPreviewMethod.Latent2RGB, preview_size=512, disable_metadata=False,
        # the rest as ComfyUI starts without flags
        listen="127.0.0.1", port=8188, enable_cors_header=None, max_upload_size=100, output_directory=None,
        input_directory=None, temp_directory=None, base_directory=None, user_directory=None,
        extra_model_paths_config=None, disable_all_custom_nodes=False, cuda_device=None, directml=None,
        disable_xformers=True, use_split_cross_attention=False, use_quad_cross_attention=False,
        use_pytorch_cross_attention=False, force_upcast_attention=False, dont_upcast_attention=False,
        reserve_vram=None, fast=[], verbose="INFO", multi_user=False, dont_print_server=False,
        quick_test_for_ci=False, windows_standalone_build=False)


args = _latentloom_args()

__getattr__ = attribute_not_offered(__name__)  # what ComfyUI's module has and this one lacks is named
