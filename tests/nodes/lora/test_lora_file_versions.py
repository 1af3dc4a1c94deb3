"""A LoRA file is read into memory of its own, and read again whenever it is rewritten, even in place with its size
and mtime kept."""
from __future__ import annotations

import torch
from safetensors.torch import load_file, save_file

from nodes.runtime.lora.loading import lora_file
from nodes.runtime.lora.lora_file import read_lora
from tests.fixtures.file_rewrites import overwrite_in_place, wait_for_a_later_ctime
from tests.fixtures.tiny_checkpoints import write_kohya_lora


def doubled_copy(path, tmp_path) -> bytes:
    """The same LoRA layout (same header, same size) with every weight doubled."""
    doubled = tmp_path / "doubled.safetensors"
    save_file({key: tensor * 2 for key, tensor in load_file(str(path)).items()}, str(doubled))
    return doubled.read_bytes()


def test_a_read_lora_keeps_its_weights_when_the_file_is_overwritten(tmp_path):
    path = write_kohya_lora(tmp_path / "style.safetensors")
    expected = {key: tensor.clone() for key, tensor in load_file(str(path)).items()}  # load_file maps the file
    lora = read_lora(path)

    overwrite_in_place(path, bytes(path.stat().st_size))  # zeros

    for prefix, patch in lora.patches.items():
        assert torch.equal(patch.tensors["down"], expected[f"{prefix}.lora_down.weight"])
        assert torch.equal(patch.tensors["up"], expected[f"{prefix}.lora_up.weight"])


def test_a_lora_rewritten_in_place_with_size_and_mtime_kept_is_read_again(tmp_path):
    path = write_kohya_lora(tmp_path / "style.safetensors")
    doubled = doubled_copy(path, tmp_path)
    wait_for_a_later_ctime(path)
    first = lora_file(path)
    assert lora_file(path) is first  # read once per version

    overwrite_in_place(path, doubled, keep_mtime=True)

    again = lora_file(path)
    assert again is not first
    key = next(iter(first.patches))
    assert torch.equal(again.patches[key].tensors["down"], first.patches[key].tensors["down"] * 2)
