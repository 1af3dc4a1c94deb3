"""A1111's model and LoRA hashes, computed independently here, and the SQLite cache that computes each file once."""
from __future__ import annotations

import hashlib
import os
import struct
import threading

import torch
from safetensors.torch import save_file

from model_library.hashes import HashCache, compute_hashes, file_sha256
from tests.fixtures.file_rewrites import overwrite_in_place, wait_for_a_later_ctime


def independent_addnet_hash(path) -> str:
    """sha256 of what follows the safetensors header (8-byte length + JSON)."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return hashlib.sha256(data[8 + length:]).hexdigest()


def test_hashes_match_a1111s_definitions(tmp_path):
    path = tmp_path / "lora.safetensors"
    # more than one read chunk, so the tensor digest must start mid-chunk and continue across chunks
    save_file({"a": torch.randn(700, 1024), "b": torch.randn(3)}, path, metadata={"ss_network_dim": "4"})
    hashes = compute_hashes(path)
    assert hashes.sha256 == file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert hashes.tensor_sha256 == independent_addnet_hash(path)
    assert hashes.model_hash == hashes.sha256[:10] and hashes.lora_hash == hashes.tensor_sha256[:12]


def test_metadata_edits_keep_the_lora_hash_but_change_the_file_hash(tmp_path):
    tensors = {"a": torch.arange(12.0).reshape(3, 4)}
    first, second = tmp_path / "one.safetensors", tmp_path / "two.safetensors"
    save_file(tensors, first, metadata={"ss_output_name": "one"})
    save_file(tensors, second, metadata={"ss_output_name": "a much longer name"})
    one, two = compute_hashes(first), compute_hashes(second)
    assert one.tensor_sha256 == two.tensor_sha256
    assert one.sha256 != two.sha256


def test_a_file_that_is_not_safetensors_hashes_whole(tmp_path):
    path = tmp_path / "old.ckpt"
    path.write_bytes(b"PK\x03\x04" + os.urandom(5000))
    hashes = compute_hashes(path)
    assert hashes.tensor_sha256 == hashes.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_cache_hashes_each_version_of_a_file_once_and_survives_a_restart(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"a": torch.ones(10)}, path)
    database = tmp_path / "user" / "hashes.sqlite"
    cache = HashCache(database)
    first = cache.hashes(path)
    assert cache.hashes(path) == first and cache.computed == 1
    cache.close()

    reopened = HashCache(database)
    assert reopened.cached(path) == first
    assert reopened.hashes(path) == first and reopened.computed == 0

    save_file({"a": torch.zeros(10)}, path)  # a new download under the same name
    os.utime(path, ns=(1, 1))
    assert reopened.cached(path) is None
    assert reopened.hashes(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert reopened.computed == 1


def test_a_file_rewritten_in_place_with_its_size_and_mtime_kept_is_hashed_again(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"a": torch.ones(10)}, path)
    cache = HashCache()
    first = cache.hashes(path)
    replacement = tmp_path / "other.safetensors"
    save_file({"a": torch.full((10,), 2.0)}, replacement)
    assert replacement.stat().st_size == path.stat().st_size
    wait_for_a_later_ctime(path)
    overwrite_in_place(path, replacement.read_bytes(), keep_mtime=True)  # cp --preserve=timestamps onto it
    assert cache.cached(path) is None
    assert cache.hashes(path).sha256 == hashlib.sha256(replacement.read_bytes()).hexdigest() != first.sha256


def test_many_first_opens_of_one_new_database_at_once_all_succeed(tmp_path):
    """Two installs (or the CLI beside the server) opening a new hash database together: switching it to WAL can
    fail at once with "database is locked"; every opener must still get a working cache."""
    failures = []

    def open_and_use(path):
        try:
            with HashCache(path) as cache:
                assert cache.cached(path) is None
        except Exception as error:  # noqa: BLE001  each failure is reported below
            failures.append(repr(error))

    for trial in range(150):
        path = tmp_path / f"hashes-{trial}.sqlite"
        threads = [threading.Thread(target=open_and_use, args=(path,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []
