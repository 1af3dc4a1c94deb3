"""An upscale by 4 through ImageUpscaleWithModel against a bare call of the same RRDBNet module (target <= 1.05x).

Run: .venv/bin/python bench/upscale_model.py [--size 512] [--blocks 23] [--features 64] [--repeat 3]
Writes an ESRGAN x4 RRDBNet with random weights (BasicSR key layout, as RealESRGAN_x4plus) to a temporary models
folder, loads it with UpscaleModelLoader, and times the node (tiles, progress, clamp, layout changes) against
`module(x)` on an image of the same size already on the device. 23 blocks of 64 features is RealESRGAN_x4plus's
size; on a CPU a 512 px image then takes minutes a call, so pass fewer --blocks there.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import interleaved, print_table, verdict  # noqa: E402 (same folder)

TARGET = 1.05


def rrdbnet_weights(blocks: int, features: int, growth: int = 32) -> dict[str, torch.Tensor]:
    """A x4 RRDBNet's weights under BasicSR's keys, scaled so activations stay in range through the trunk."""
    from nodes.runtime.upscale_models import RRDBNetConfig, build_upscale_module

    config = RRDBNetConfig(in_channels=3, out_channels=3, features=features, blocks=blocks, growth=growth,
                           upsamplings=2, unshuffle=1)
    shapes = {key: value.shape for key, value in build_upscale_module(config).state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    weights = {}
    for key, shape in shapes.items():
        fan_in = shape[1] * shape[2] * shape[3] if len(shape) == 4 else 1
        weights[key] = torch.randn(shape, generator=generator) * (0.5 / fan_in) ** 0.5
    return {basicsr_key(key): value for key, value in weights.items()}


def basicsr_key(module_key: str) -> str:
    """Our module's name for a weight -> BasicSR's (upsample_convs.0 is conv_up1)."""
    if not module_key.startswith("upsample_convs."):
        return module_key
    _, index, rest = module_key.split(".", 2)
    return f"conv_up{int(index) + 1}.{rest}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--blocks", type=int, default=23)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from graph_engine import Folders, using_folders
    from nodes.runtime.devices import model_manager
    from nodes.upscaling.upscale_model_nodes import ImageUpscaleWithModel, UpscaleModelLoader

    with tempfile.TemporaryDirectory() as base:
        folders = Folders.under(base)
        path = folders.models / "upscale_models" / "x4.safetensors"
        path.parent.mkdir(parents=True)
        save_file(rrdbnet_weights(args.blocks, args.features), str(path))
        with using_folders(folders):
            (model,) = UpscaleModelLoader().load_model(path.name)
    image = torch.rand((1, args.size, args.size, 3), generator=torch.Generator().manual_seed(1))
    device = model_manager().compute_device
    on_device = image.movedim(-1, 1).contiguous().to(device)  # NCHW, as a module is usually called
    node = ImageUpscaleWithModel()

    def bare() -> None:
        with torch.inference_mode():
            model.module(on_device)
        if device.type == "cuda":
            torch.cuda.synchronize()

    def through_node() -> None:
        node.upscale(model, image)

    medians = interleaved(args.repeat, {"bare module": bare, "ImageUpscaleWithModel": through_node})
    ratio = medians["ImageUpscaleWithModel"] / medians["bare module"]
    print_table(f"x4 upscale of a {args.size} px image, RRDBNet {args.blocks} blocks x {args.features} features, "
                f"{device}, median of {args.repeat}",
                ("path", "seconds"), [(name, f"{seconds:.3f}") for name, seconds in medians.items()])
    print(f"\nnode / bare: {ratio:.3f}x (target <= {TARGET}x): {verdict(ratio, TARGET)}")


if __name__ == "__main__":
    main()
