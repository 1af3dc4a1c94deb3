"""What to tell someone whose workflow names a model file that is not installed: the folder such files go in, and,
when that folder is still empty, how to get one. Loader nodes give it as their CHOICES_HINT, so validation's
"Value not in list" says it on the command line, the canvas and the API alike."""
from __future__ import annotations

import os

from graph_engine import Folders
from graph_engine.validate import close_choices

from model_library.folders import kind_folder, list_models
from model_library.kinds import KIND_WORDS

INSTALL_COMMAND = "latentloom models install <file, https:// URL or Hugging Face org/repo/file.safetensors>"


def model_folder_hint(folders: Folders, kind: str) -> str:
    """One or two sentences: where files of `kind` are read from, or how to install the first one."""
    word, folder = KIND_WORDS[kind], kind_folder(folders, kind)
    if list_models(folders, kind):
        return f"{word[0].upper()}{word[1:]} files are read from {folder}: put the file there (no restart needed)."
    demo = " (or `latentloom demo-model` for a small test checkpoint with random weights)" if kind == "checkpoints" else ""
    return f"{folder} holds no {word} yet: install one with `{INSTALL_COMMAND}`{demo}."


def missing_embedding_message(folders: Folders, name: str) -> str:
    """What the log says of an `embedding:name` in a prompt that names no installed embedding."""
    installed = list_models(folders, "embeddings")
    said = f"embedding:{name} is not in {kind_folder(folders, 'embeddings')}, so it is left out of the prompt."
    if not installed:
        return f"{said} {model_folder_hint(folders, 'embeddings')}"
    suggestions = [f"embedding:{os.path.splitext(choice)[0]}" for choice in close_choices(name, tuple(installed))]
    return f"{said} Did you mean {' or '.join(suggestions)}?" if suggestions else said
