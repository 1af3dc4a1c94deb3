"""Loaded weights never depend on the model file staying as it was, and a file rewritten under a reader is named.

A mapped file that is rewritten in place changes the weights of a model already loaded from it, and one that shrinks
kills the process with SIGBUS. Here files are overwritten the way `cp new.safetensors old.safetensors` does it:
truncated and rewritten in place (same inode), sometimes with the old mtime set back.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from nodes.runtime.checkpoints import load_checkpoint, open_checkpoint_file
from nodes.runtime.checkpoints.checkpoint_file import read_all_tensors
from nodes.runtime.checkpoints.errors import FileChangedError
from nodes.runtime.checkpoints.pickle_reader import load_pickle_tensors
from nodes.runtime.checkpoints.range_reader import PART_BYTES, RangeReader
from tests.fixtures.file_rewrites import overwrite_in_place, wait_for_a_later_ctime
from tests.fixtures.module_checks import assert_same_weights

REPO = Path(__file__).resolve().parents[3]
CHANGED = "changed while it was being read"
FLIP_LOWEST_BIT = bytes(byte ^ 1 for byte in range(256))


def other_weights_same_layout(path: Path) -> bytes:
    """The bytes of `path` with the same header (so the same size) and the lowest bit of every weight byte flipped."""
    data = path.read_bytes()
    weights_start = 8 + struct.unpack("<Q", data[:8])[0]
    return data[:weights_start] + data[weights_start:].translate(FLIP_LOWEST_BIT)


@pytest.fixture
def sd1_copy(tiny_sd1, tmp_path) -> Path:
    path = tmp_path / "model.safetensors"
    shutil.copyfile(tiny_sd1.path, path)
    return path


@pytest.mark.parametrize("file_format", ["safetensors", "ckpt"])
def test_weights_loaded_in_the_files_own_dtype_keep_their_values_when_the_file_is_overwritten(tiny_sd1, tmp_path,
                                                                                             file_format):
    """The float16 file loaded as float16 on the CPU is the case that used to stay mapped from the file."""
    path = tmp_path / f"model.{file_format}"
    if file_format == "ckpt":
        torch.save({"state_dict": load_file(tiny_sd1.path)}, path)  # the zip format, which torch can map
    else:
        shutil.copyfile(tiny_sd1.path, path)
    loaded = load_checkpoint(path, dtype=torch.float16)

    overwrite_in_place(path, bytes(path.stat().st_size))  # zeros

    assert_same_weights(loaded.unet, tiny_sd1.unet, dtype=torch.float16)
    assert_same_weights(loaded.vae, tiny_sd1.vae, dtype=torch.float16)
    assert_same_weights(loaded.text_encoders[0], tiny_sd1.text_encoders[0], dtype=torch.float16)


def test_tensors_read_whole_keep_their_values_when_the_file_is_overwritten(tiny_sd1, sd1_copy, tmp_path):
    """What LoRAs, embeddings and plugins read (read_all_tensors, pickles) is private too."""
    expected = load_file(str(tiny_sd1.path))  # the copy's bytes, from a file nobody overwrites
    pickle = tmp_path / "model.pt"
    torch.save(expected, pickle)
    tensors, _ = read_all_tensors(sd1_copy)
    from_pickle = load_pickle_tensors(pickle)

    overwrite_in_place(sd1_copy, bytes(sd1_copy.stat().st_size))
    overwrite_in_place(pickle, bytes(pickle.stat().st_size))

    for read in (tensors, from_pickle):
        assert read.keys() == expected.keys()
        assert all(torch.equal(read[key], expected[key]) for key in expected)


# Run in a child process: a reader that maps the file dies of SIGBUS here, which must fail this test, not end the run.
TRUNCATED_WHILE_READ = """
import sys
from nodes.runtime.checkpoints import CorruptCheckpointError, open_checkpoint_file

path = sys.argv[1]
try:
    with open_checkpoint_file(path) as opened:
        keys = list(opened.shapes)
        opened.tensor(keys[0])
        with open(path, "r+b") as handle:
            handle.truncate(handle.seek(0, 2) // 2)
        for key in keys:
            opened.tensor(key).float().sum()  # use the bytes, as sampling would
except CorruptCheckpointError as error:
    print(type(error).__name__, error)
"""


def test_a_file_truncated_while_its_tensors_are_read_is_named_instead_of_crashing(sd1_copy):
    """A real truncation between the header read and the tensor reads: a short read and a clean error."""
    done = subprocess.run([sys.executable, "-c", TRUNCATED_WHILE_READ, str(sd1_copy)], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, f"exit status {done.returncode} (-7: SIGBUS)\n{done.stderr}"
    # FileChangedError is a CorruptCheckpointError: the loader nodes report it like any broken file
    assert done.stdout.startswith("FileChangedError ") and str(sd1_copy) in done.stdout and CHANGED in done.stdout


def test_ranges_read_in_parallel_parts_get_every_byte_and_a_file_that_shrank_is_named(tmp_path):
    """Large tensors are read by several threads, one part each; any part coming up short is the error."""
    data = os.urandom(3 * PART_BYTES + 123)
    path = tmp_path / "bytes.bin"
    path.write_bytes(data)
    with open(path, "rb", buffering=0) as handle:
        reader = RangeReader(handle, path)
        try:
            target = bytearray(len(data) - 7)
            reader.read_into(memoryview(target), 7)
            assert target == data[7:]
            os.truncate(path, PART_BYTES + 5)
            with pytest.raises(FileChangedError, match=CHANGED):
                reader.read_into(memoryview(bytearray(len(data))), 0)
        finally:
            reader.close()


def test_a_file_rewritten_in_place_with_its_size_and_mtime_kept_during_a_read_is_named(sd1_copy):
    """Nothing comes up short here: the reader notices by the file's identity (ctime) when it is done."""
    other = other_weights_same_layout(sd1_copy)
    wait_for_a_later_ctime(sd1_copy)
    with pytest.raises(FileChangedError, match=CHANGED):
        with open_checkpoint_file(sd1_copy) as opened:
            keys = list(opened.shapes)
            opened.tensor(keys[0])
            overwrite_in_place(sd1_copy, other, keep_mtime=True)
            for key in keys:
                opened.tensor(key)


def test_a_loaders_is_changed_changes_when_the_file_is_copied_over_in_place_with_size_and_mtime_kept(sd1_copy,
                                                                                                  tmp_path):
    """So the engine's cache never serves the model loaded from the old bytes."""
    from graph_engine import Folders, using_folders
    from nodes.diffusion.loaders import CheckpointLoaderSimple

    models = tmp_path / "models"
    (models / "checkpoints").mkdir(parents=True)
    target = models / "checkpoints" / "model.safetensors"
    sd1_copy.rename(target)
    other = other_weights_same_layout(target)
    with using_folders(Folders.under(tmp_path)):  # as the engine calls IS_CHANGED
        wait_for_a_later_ctime(target)
        before = CheckpointLoaderSimple.IS_CHANGED("model.safetensors")
        assert CheckpointLoaderSimple.IS_CHANGED("model.safetensors") == before  # stable while nothing changes
        overwrite_in_place(target, other, keep_mtime=True)
        assert CheckpointLoaderSimple.IS_CHANGED("model.safetensors") != before


def test_an_embedding_is_read_again_after_its_file_is_rewritten_and_what_was_read_stays(tmp_path):
    from nodes.runtime.text import EmbeddingFolder

    path = tmp_path / "style.safetensors"
    first = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 64)
    save_file({"emb_params": first}, str(path))
    folder = EmbeddingFolder([tmp_path])
    read = folder.vectors("style", "clip_l", 64)
    wait_for_a_later_ctime(path)
    save_file({"emb_params": -first}, str(tmp_path / "new.safetensors"))

    overwrite_in_place(path, (tmp_path / "new.safetensors").read_bytes(), keep_mtime=True)

    assert torch.equal(read, first)
    assert torch.equal(folder.vectors("style", "clip_l", 64), -first)
