"""What a user is told about a model name that is not installed: the folder it belongs in, the close names, and how
to install a first one; for a validation error (loader nodes' CHOICES_HINT) and for `embedding:name` in a prompt."""
from __future__ import annotations

import logging

import pytest

from graph_engine import Folders, using_folders
from nodes.runtime.model_hints import missing_embedding_message, model_folder_hint
from nodes.runtime.text.tokens import tokenize_prompt


@pytest.fixture
def folders(tmp_path) -> Folders:
    return Folders.under(tmp_path)


@pytest.fixture
def models(folders):
    return folders.models


@pytest.mark.parametrize("kind, word", [("checkpoints", "checkpoint"), ("vae", "VAE"), ("loras", "LoRA"),
                                        ("embeddings", "embedding")])
def test_an_empty_folder_says_how_to_install_one(folders, models, kind, word):
    hint = model_folder_hint(folders, kind)
    assert f"{models / kind} holds no {word} yet" in hint and "`latentloom models install " in hint
    assert ("latentloom demo-model" in hint) == (kind == "checkpoints")


def test_a_folder_with_files_says_where_to_put_the_file(folders, models):
    (models / "vae").mkdir(parents=True)
    (models / "vae" / "sd-vae-ft-mse.safetensors").write_bytes(b"x")
    assert model_folder_hint(folders, "vae") == (f"VAE files are read from {models / 'vae'}: put the file there "
                                                 "(no restart needed).")


def test_a_missing_embedding_in_a_prompt_is_named_with_its_folder_and_close_names(folders, models, caplog):
    (models / "embeddings" / "negative").mkdir(parents=True)
    (models / "embeddings" / "negative" / "EasyNegative.safetensors").write_bytes(b"x")
    message = missing_embedding_message(folders, "easynegativ")
    assert message == (f"embedding:easynegativ is not in {models / 'embeddings'}, so it is left out of the prompt. "
                       "Did you mean embedding:negative/EasyNegative?")
    with caplog.at_level(logging.WARNING), using_folders(folders):  # as CLIPTextEncode runs in the engine
        tokenize_prompt("a cat, embedding:EasyNegativ", embeddings=lambda name: None)
    assert "embedding:EasyNegativ is not in" in caplog.text and "embedding:negative/EasyNegative?" in caplog.text


def test_a_missing_embedding_with_no_embeddings_says_how_to_install_one(folders, models):
    message = missing_embedding_message(folders, "style")
    assert message.startswith(f"embedding:style is not in {models / 'embeddings'}, so it is left out of the prompt.")
    assert "holds no embedding yet" in message and "latentloom models install" in message
