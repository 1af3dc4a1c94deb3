"""Textual-inversion files found by name, read safely, and placed in the prompt of SD1 and SDXL checkpoints."""
from __future__ import annotations

import logging

import pytest
import torch
from safetensors.torch import save_file

from nodes.runtime.text.embeddings import EmbeddingFolder
from nodes.runtime.text.encode import encode_prompt


def vectors(rows: int, seed: int, width: int = 64) -> torch.Tensor:
    return torch.randn(rows, width, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "embeddings"
    (root / "styles").mkdir(parents=True)
    save_file({"emb_params": vectors(2, 1)}, str(root / "plain.safetensors"))
    save_file({"clip_g": vectors(3, 2), "clip_l": vectors(1, 3)}, str(root / "styles" / "xl.safetensors"))
    torch.save({"string_to_param": {"*": vectors(2, 4)}, "name": "a1111", "step": 500}, root / "a1111.pt")
    save_file({"emb_params": vectors(1, 5, width=32)}, str(root / "narrow.safetensors"))
    (tmp_path / "secret.safetensors").write_bytes(b"outside")
    return EmbeddingFolder([root])


def test_files_are_found_by_name_in_folders_and_subfolders(folder):
    assert folder.find("plain").name == "plain.safetensors"
    assert folder.find("plain.safetensors").name == "plain.safetensors"
    assert folder.find("xl").name == "xl.safetensors"
    assert folder.find("missing") is None
    assert folder.find("../secret") is None


def test_each_format_gives_its_vectors(folder):
    torch.testing.assert_close(folder.vectors("plain", "clip_l", 64), vectors(2, 1))
    torch.testing.assert_close(folder.vectors("a1111", "clip_l", 64), vectors(2, 4))
    torch.testing.assert_close(folder.vectors("xl", "clip_l", 64), vectors(1, 3))
    torch.testing.assert_close(folder.vectors("xl", "clip_g", 64), vectors(3, 2))


def test_vectors_of_another_width_are_left_out(folder, caplog):
    with caplog.at_level(logging.WARNING):
        assert folder.vectors("narrow", "clip_l", 64) is None
    assert "width 32" in caplog.text


def test_a_pickle_that_would_run_code_is_not_loaded(tmp_path, caplog, capsys):
    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    root = tmp_path / "embeddings"
    root.mkdir()
    torch.save({"string_to_param": {"*": vectors(1, 1)}, "evil": Payload()}, root / "evil.pt")
    with caplog.at_level(logging.WARNING):
        assert EmbeddingFolder([root]).vectors("evil", "clip_l", 64) is None
    assert "evil.pt" in caplog.text
    assert "ran" not in capsys.readouterr().out


def test_sd1_prompt_with_an_embedding_file(sd1, folder):
    from_file = encode_prompt(sd1, "a embedding:plain, cat", embeddings=folder.lookups(sd1)).hidden
    given = encode_prompt(sd1, "a embedding:plain, cat", embeddings={"clip_l": {"plain": vectors(2, 1)}.get}).hidden
    torch.testing.assert_close(from_file, given)
    assert not torch.allclose(from_file, encode_prompt(sd1, "a , cat").hidden, atol=1e-3)


def test_sdxl_gives_each_encoder_its_own_vectors(sdxl, folder):
    got = encode_prompt(sdxl, "embedding:xl cat", embeddings=folder.lookups(sdxl))
    expected = encode_prompt(sdxl, "embedding:xl cat", embeddings={"clip_l": {"xl": vectors(1, 3)}.get,
                                                                    "clip_g": {"xl": vectors(3, 2)}.get})
    torch.testing.assert_close(got.hidden, expected.hidden)
    torch.testing.assert_close(got.pooled, expected.pooled)
