"""UpscaleModelLoader and ImageUpscaleWithModel through the engine, and the tiling against one pass."""
from __future__ import annotations

import pytest
import torch

from graph_engine import WorkflowInvalid, events, using_folders
from latentloom.cli import build_parser
from latentloom.cli_options import options_from
from nodes.runtime.upscale_models import UpscaleModel, tiled_upscale, upscale_images
from nodes.runtime.upscale_models.detection import CompactConfig
from nodes.runtime.upscale_models.tiling import tile_starts
from nodes.upscaling.upscale_model_nodes import UpscaleModelLoader
from tests.fixtures.tiny_upscale_models import tiny_compact, tiny_rrdbnet, write_safetensors
from tests.nodes.latent.latent_helpers import CAUGHT, IMAGE, Runner, make_engine
from tests.nodes.upscaling import reference


@pytest.fixture
def runner(tmp_path) -> Runner:
    return Runner(make_engine(tmp_path))


def upscale_prompt(runner: Runner, model_name: str, image: torch.Tensor) -> tuple[dict, str]:
    prompt, key = runner.prompt("ImageUpscaleWithModel", {"upscale_model": ["loader", 0]}, {"image": (image, IMAGE)})
    prompt["loader"] = {"class_type": "UpscaleModelLoader", "inputs": {"model_name": model_name}}
    return prompt, key


def test_loader_lists_the_folder_and_the_node_upscales_clamped(runner, tmp_path):
    tiny = tiny_rrdbnet("old", scale=4, seed=5)
    tiny.last[0].mul_(10)  # outputs spread over -1..2 (the file's state dict holds these same tensors)
    tiny.last[1].add_(0.5)
    write_safetensors(tiny.state_dict, tmp_path / "models" / "upscale_models" / "4x_tiny.safetensors")
    with using_folders(runner.engine.folders):
        info = runner.engine.registry.object_info()["UpscaleModelLoader"]
    assert info["input"]["required"]["model_name"][0] == ["4x_tiny.safetensors"]

    image = torch.rand((2, 6, 10, 3), generator=torch.Generator().manual_seed(6))
    prompt, key = upscale_prompt(runner, "4x_tiny.safetensors", image)
    result = runner.engine.run(prompt)
    assert result.ok, result.error
    got = CAUGHT.pop(key)
    expected = reference.rrdbnet(tiny, image.movedim(-1, 1)).movedim(1, -1)
    assert got.shape == (2, 24, 40, 3) and got.dtype == torch.float32
    assert expected.min() < 0 and expected.max() > 1  # the clamp matters for these weights
    torch.testing.assert_close(got, expected.clamp(0, 1), atol=1e-5, rtol=1e-4)


def test_missing_model_names_the_folder(runner):
    prompt, _ = upscale_prompt(runner, "4x_missing.pth", torch.zeros((1, 4, 4, 3)))
    with pytest.raises(WorkflowInvalid, match=r"upscale_models holds no upscale model yet: install one"):
        runner.engine.run(prompt)


def test_progress_per_tile_and_tiles_match_one_pass_away_from_seams(runner, tmp_path):
    # 600 px wide: tiles of 512 start at 0 and 480 (ComfyUI's layout); a 2x model
    tiny = tiny_rrdbnet("old", scale=2, features=4, blocks=1, growth=4, seed=7)
    write_safetensors(tiny.state_dict, tmp_path / "models" / "upscale_models" / "2x.safetensors")
    image = torch.rand((1, 20, 600, 3), generator=torch.Generator().manual_seed(8))
    seen = []
    unsubscribe = runner.engine.events.subscribe(lambda event, data: seen.append((event, data)))
    try:
        prompt, key = upscale_prompt(runner, "2x.safetensors", image)
        result = runner.engine.run(prompt)
    finally:
        unsubscribe()
    assert result.ok, result.error
    progress = [(data["value"], data["max"]) for event, data in seen if event == events.PROGRESS
                and data["node"] == "n"]
    assert progress == [(1, 2), (2, 2)]
    got = CAUGHT.pop(key)
    whole = reference.rrdbnet(tiny, image.movedim(-1, 1)).clamp(0, 1).movedim(1, -1)
    # the network sees 18 px around each low-resolution pixel: columns that far from the tile edges match one pass
    torch.testing.assert_close(got[:, :, : 2 * (480 - 18)], whole[:, :, : 2 * (480 - 18)], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(got[:, :, 2 * (512 + 18):], whole[:, :, 2 * (512 + 18):], atol=1e-5, rtol=1e-4)


def test_tile_starts_follow_comfyui():
    assert tile_starts(512, 512, 32) == [0]
    assert tile_starts(600, 512, 32) == [0, 480]
    assert tile_starts(1100, 512, 32) == [0, 480, 960]


def pixelwise(x: torch.Tensor) -> torch.Tensor:
    """A per-pixel 3x upscale (each output pixel depends on one input pixel): tiling cannot change it."""
    return (x.flip(1) * 0.5 + x.square()).repeat_interleave(3, 2).repeat_interleave(3, 3)


def test_tiling_equals_one_pass_for_a_per_pixel_model():
    image = torch.rand((2, 3, 37, 50), generator=torch.Generator().manual_seed(9))
    calls = []
    tiled = tiled_upscale(image, lambda x: calls.append(x.shape) or pixelwise(x), 3, tile=16, overlap=4)
    assert len(calls) == 2 * len(tile_starts(37, 16, 4)) * len(tile_starts(50, 16, 4))
    torch.testing.assert_close(tiled, pixelwise(image), atol=1e-6, rtol=1e-6)


class OutOfMemoryAbove(torch.nn.Module):
    """A per-pixel 2x model that runs out of memory on tiles wider than `limit` pixels, as a big model would."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.gain = torch.nn.Parameter(torch.tensor(0.5))
        self.widths: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.widths.append(x.shape[-1])
        if x.shape[-1] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return (x * self.gain).repeat_interleave(2, 2).repeat_interleave(2, 3)


def test_out_of_memory_halves_the_tile():
    module = OutOfMemoryAbove(300)
    model = UpscaleModel(module=module, config=CompactConfig(3, 3, 4, 1, 2), layout="test", source="oom")
    image = torch.rand((1, 40, 600, 3), generator=torch.Generator().manual_seed(10))
    got = upscale_images(model, image)
    assert module.widths[0] == 512 and max(module.widths[1:]) == 256
    torch.testing.assert_close(got, (image * 0.5).repeat_interleave(2, 1).repeat_interleave(2, 2))


def test_out_of_memory_below_the_smallest_tile_is_raised():
    model = UpscaleModel(module=OutOfMemoryAbove(100), config=CompactConfig(3, 3, 4, 1, 2), layout="test",
                         source="oom")
    with pytest.raises(torch.OutOfMemoryError):
        upscale_images(model, torch.rand((1, 8, 600, 3)))


def test_wrong_channel_count_is_refused(runner, tmp_path):
    write_safetensors(tiny_compact(scale=2).state_dict, tmp_path / "models" / "upscale_models" / "c.safetensors")
    prompt, _ = upscale_prompt(runner, "c.safetensors", torch.zeros((1, 4, 4, 4)))
    result = runner.engine.run(prompt)
    assert not result.ok and "image has 4 channels but c.safetensors reads 3" in str(result.error)


def test_upscale_models_dir_flag_and_extra_model_paths_key(tmp_path):
    flagged, shared = tmp_path / "flagged", tmp_path / "comfy" / "models" / "ESRGAN"
    write_safetensors(tiny_compact(scale=2).state_dict, flagged / "2x_flag.safetensors")
    write_safetensors(tiny_compact(scale=4).state_dict, shared / "4x_yaml.safetensors")
    (tmp_path / "extra_model_paths.yaml").write_text(f"comfyui:\n    base_path: {tmp_path / 'comfy'}\n"
                                                     f"    upscale_models: models/ESRGAN\n")
    args = build_parser().parse_args(["serve", "--base-dir", str(tmp_path / "base"), "--upscale_models-dir",
                                      str(flagged), "--extra-model-paths-config",
                                      str(tmp_path / "extra_model_paths.yaml")])
    folders = options_from(args).folders()
    with using_folders(folders):
        names = UpscaleModelLoader.INPUT_TYPES()["required"]["model_name"][0]
        assert names == ["2x_flag.safetensors", "4x_yaml.safetensors"]
        assert UpscaleModelLoader().load_model("4x_yaml.safetensors")[0].scale == 4
