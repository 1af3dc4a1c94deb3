"""The checkpoint loader reads the weights it will use on background threads while it builds its modules: each used
weight is read once, nothing else is read, and a failure on either side ends the load with the usual error and no
reading thread left behind. A small file is read on demand instead, in the loading thread.

Reads are watched (and disturbed) at the system call, `os.preadv`, the way a concurrent writer or a failing disk
would disturb them; the loader itself runs unchanged.
"""
from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from nodes.runtime.checkpoints import CheckpointError, FileChangedError, load_checkpoint, loader
from nodes.runtime.checkpoints.range_reader import RangeReader
from nodes.runtime.checkpoints.safetensors_header import read_safetensors_header
from tests.fixtures.module_checks import assert_same_weights

pytestmark = pytest.mark.skipif(not hasattr(os, "preadv"), reason="reads ahead only where files are read at an offset")

READ_AHEAD_THREAD = "model-file-read-ahead"
CHANGED = "changed while it was being read"


@pytest.fixture(autouse=True)
def read_ahead_even_small_files(monkeypatch):
    """The tiny test checkpoints are read ahead as large ones are (below the size, reads are on demand)."""
    monkeypatch.setattr(loader, "READ_AHEAD_MIN_BYTES", 0)


def reading_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith(READ_AHEAD_THREAD)]


def watch_reads(monkeypatch, path: Path, before_read=None) -> list[tuple[int, int, str]]:
    """(offset, bytes read, thread name) of every preadv of `path`; `before_read(thread name)` runs first."""
    inode = path.stat().st_ino
    real_preadv = os.preadv
    reads: list[tuple[int, int, str]] = []
    lock = threading.Lock()

    def preadv(fd, buffers, offset, *flags):
        if os.fstat(fd).st_ino != inode:
            return real_preadv(fd, buffers, offset, *flags)
        thread = threading.current_thread().name
        if before_read is not None:
            before_read(thread)
        count = real_preadv(fd, buffers, offset, *flags)
        with lock:
            reads.append((offset, count, thread))
        return count

    monkeypatch.setattr(os, "preadv", preadv)
    return reads


def with_extra_weights(tiny_sd1, tmp_path: Path, extra: dict[str, torch.Tensor], drop: str | None = None) -> Path:
    tensors = {key: value for key, value in load_file(str(tiny_sd1.path)).items() if key != drop}
    path = tmp_path / "model.safetensors"
    save_file({**tensors, **extra}, str(path))
    return path


def load_watching_reads(tiny_sd1, path: Path, monkeypatch) -> tuple[list[tuple[int, int]], set[str]]:
    """Load `path` (tiny_sd1's weights and some more), check every weight and that no byte was read twice; return
    the (begin, end) ranges read, in order, and the names of the threads that read them."""
    reads = watch_reads(monkeypatch, path)
    loaded = load_checkpoint(path, dtype=torch.float16)
    assert_same_weights(loaded.unet, tiny_sd1.unet, dtype=torch.float16)
    assert_same_weights(loaded.vae, tiny_sd1.vae, dtype=torch.float16)
    assert_same_weights(loaded.text_encoders[0], tiny_sd1.text_encoders[0], dtype=torch.float16)
    ordered = sorted((offset, offset + count) for offset, count, _ in reads)
    assert all(end <= next_begin for (_, end), (next_begin, _) in zip(ordered, ordered[1:])), "a byte read twice"
    return ordered, {thread for _, _, thread in reads}


def test_every_used_weight_is_read_once_in_the_background_and_unused_ones_never(tiny_sd1, tmp_path, monkeypatch):
    ema = {f"model_ema.diffusion_modelinput_blocks{i}0weight": torch.randn(64, 64) for i in range(3)}
    path = with_extra_weights(tiny_sd1, tmp_path, {**ema, "unrelated_part.weight": torch.randn(256, 256)})
    spans = read_safetensors_header(path).spans

    ordered, threads = load_watching_reads(tiny_sd1, path, monkeypatch)

    def bytes_read(key: str) -> int:
        begin, end = spans[key]
        return sum(max(0, min(end, stop) - max(begin, start)) for start, stop in ordered)

    used = [key for key in spans if key.startswith(("model.diffusion_model.", "first_stage_model.",
                                                    "cond_stage_model."))]
    assert [key for key in used if bytes_read(key) != spans[key][1] - spans[key][0]] == []
    assert [key for key in [*ema, "unrelated_part.weight"] if bytes_read(key)] == []
    assert threads and all(thread.startswith(READ_AHEAD_THREAD) for thread in threads)
    assert len(ordered) < len(used) / 4, "neighbouring small weights are read together"
    assert reading_threads() == []


def test_a_file_under_the_read_ahead_size_is_read_on_demand_by_the_loading_thread_once(tiny_sd1, tmp_path,
                                                                                      monkeypatch):
    path = with_extra_weights(tiny_sd1, tmp_path, {"unrelated_part.weight": torch.randn(256, 256)})
    monkeypatch.setattr(loader, "READ_AHEAD_MIN_BYTES", path.stat().st_size + 1)
    begin, end = read_safetensors_header(path).spans["unrelated_part.weight"]

    ordered, threads = load_watching_reads(tiny_sd1, path, monkeypatch)

    assert threads == {threading.current_thread().name}
    assert not [start for start, stop in ordered if start < end and stop > begin], "an unused weight was read"


def test_a_file_truncated_while_read_in_the_background_is_named_and_no_reading_thread_is_left(tiny_sd1, tmp_path,
                                                                                           monkeypatch):
    path = with_extra_weights(tiny_sd1, tmp_path, {})
    truncated = threading.Event()

    def truncate_once(thread: str) -> None:  # another program rewriting the file just as the reads begin
        if thread.startswith(READ_AHEAD_THREAD) and not truncated.is_set():
            truncated.set()
            os.truncate(path, path.stat().st_size // 2)

    watch_reads(monkeypatch, path, truncate_once)
    with pytest.raises(FileChangedError, match=CHANGED) as raised:
        load_checkpoint(path, dtype=torch.float16)
    assert truncated.is_set()
    assert raised.value.path == path and str(path) in str(raised.value)
    assert reading_threads() == []


def test_a_failing_background_read_ends_the_load_with_that_error_and_no_reading_thread_is_left(tiny_sd1, tmp_path,
                                                                                            monkeypatch):
    path = with_extra_weights(tiny_sd1, tmp_path, {})

    def fail(thread: str) -> None:
        if thread.startswith(READ_AHEAD_THREAD):
            raise OSError(errno.EIO, "Input/output error")

    watch_reads(monkeypatch, path, fail)
    with pytest.raises(OSError) as raised:
        load_checkpoint(path, dtype=torch.float16)
    assert raised.value.errno == errno.EIO
    assert reading_threads() == []


def test_an_error_found_while_reads_are_running_ends_the_load_as_before_and_no_reading_thread_is_left(
        tiny_sd1, tmp_path):
    path = with_extra_weights(tiny_sd1, tmp_path, {}, drop="model.diffusion_model.out.0.bias")
    with pytest.raises(CheckpointError, match="the UNet lacks 1 of its"):
        load_checkpoint(path, dtype=torch.float16)
    assert reading_threads() == []


def test_consecutive_ranges_read_in_one_call_get_every_byte_even_when_the_system_returns_less(tmp_path,
                                                                                              monkeypatch):
    """A system may return fewer bytes than asked for; the reader goes on from where the read stopped, mid-buffer
    included, and a file that ends early is named."""
    data = os.urandom(10_000)
    path = tmp_path / "bytes.bin"
    path.write_bytes(data)
    real_preadv = os.preadv

    def at_most_777_bytes(fd, buffers, offset, *flags):
        kept, room = [], 777
        for buffer in buffers:
            if room == 0:
                break
            kept.append(buffer[:room])
            room -= len(kept[-1])
        return real_preadv(fd, kept, offset, *flags)

    monkeypatch.setattr(os, "preadv", at_most_777_bytes)
    sizes = [1, 0, 500, 2000, 3, 4096, 1400]
    with open(path, "rb", buffering=0) as handle:
        reader = RangeReader(handle, path)
        targets = [bytearray(size) for size in sizes]
        reader.read_consecutive([memoryview(target) for target in targets], 5)
        assert b"".join(targets) == data[5:5 + sum(sizes)]
        with pytest.raises(FileChangedError, match=CHANGED):
            reader.read_consecutive([memoryview(bytearray(6000)), memoryview(bytearray(6000))], 0)
