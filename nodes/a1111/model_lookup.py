"""Finding the installed file an A1111 infotext means: by its hash first, then by its name.

A1111 writes a checkpoint's "Model hash" (sha256[:10]) and "Model" (the file stem), and a LoRA's name in its
`<lora:name:...>` tag plus, in "Lora hashes", its hash over the tensor data (sha256[:12]). Files get renamed, so a
hash match wins; a name match is used when no installed file has the hash (a re-saved or pruned copy of the same
model) and is logged. Hashes come from the model library's cache, so only files never hashed before are read.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from graph_engine import Folders
    from model_library.hashes import HashCache

log = logging.getLogger(__name__)


class ModelNotInstalled(LookupError):
    """The infotext names a model that no model folder holds."""


def _stem(name: str) -> str:
    from .infotext_writer import file_stem

    return file_stem(name)


def _hash_of(folders: Folders, hashes: HashCache, kind: str, name: str, which: Callable) -> str | None:
    from model_library.folders import find_model

    try:
        return which(hashes.hashes(find_model(folders, kind, name)))
    except (OSError, ValueError):
        log.debug("cannot hash %s %s", kind, name, exc_info=True)
        return None


def find_installed(folders: Folders, kind: str, name: str | None, wanted_hash: str | None,
                   which_hash: Callable) -> str:
    """The listed name (relative to its model folder) of the `kind` file with `wanted_hash` or named `name`, among
    the files of the installation `folders`."""
    from model_library.hashes import open_hash_cache
    from model_library.folders import kind_folder, list_models

    installed = list_models(folders, kind)
    named = [entry for entry in installed if name and _stem(entry).lower() == _stem(name).lower()]
    if wanted_hash:
        wanted = wanted_hash.lower()
        with open_hash_cache(folders) as hashes:
            # files with the right name are the likely match: hash those first, the rest only when they miss
            for entry in named + [e for e in installed if e not in named]:
                if (_hash_of(folders, hashes, kind, entry, which_hash) or "").lower() == wanted:
                    return entry
    if named:
        if wanted_hash:
            log.warning("no %s file has hash %s; using %s, which has the same name", kind, wanted_hash, named[0])
        return named[0]
    described = " ".join(part for part in (f"'{name}'" if name else "", f"(hash {wanted_hash})" if wanted_hash else "")
                         if part)
    raise ModelNotInstalled(f"the {kind[:-1]} {described} is not installed: put the file in "
                            f"{kind_folder(folders, kind)} (latentloom models install <file or URL> does it for you)")


def find_checkpoint(folders: Folders, name: str | None, model_hash: str | None) -> str:
    return find_installed(folders, "checkpoints", name, model_hash, lambda hashes: hashes.model_hash)


def find_lora(folders: Folders, name: str, lora_hash: str | None) -> str:
    return find_installed(folders, "loras", name, lora_hash, lambda hashes: hashes.lora_hash)


def installed_embeddings(folders: Folders) -> dict[str, str]:
    """Embedding file stems, lower case -> as spelled, to turn A1111's bare embedding words into ComfyUI's
    `embedding:name` (which finds a file by its stem in any subfolder)."""
    from model_library.folders import list_models

    return {_stem(entry).lower(): _stem(entry) for entry in list_models(folders, "embeddings")}
