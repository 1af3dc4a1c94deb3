"""Every installed model file with what it is and its hashes: the data behind `models list` and the models panel."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from graph_engine import Folders
from .folders import find_model, scan_models
from .kinds import FOLDER_KINDS, KIND_FOLDERS, KINDS, SEARCHED_TOGETHER

from .hashes import FileHashes, HashCache, open_hash_cache
from .identify import ModelFile, identify_model, unusable_model


@dataclass(frozen=True)
class InstalledModel:
    """A file as the loaders list it (`folder` + `name`), what it is, and its hashes (None for folders, or when
    only cached hashes were asked for and there are none yet)."""

    folder: str
    name: str
    file: ModelFile
    hashes: FileHashes | None

    @property
    def misplaced(self) -> str | None:
        """Advice when the file is a known kind that belongs in another folder."""
        belongs = KIND_FOLDERS.get(self.file.kind)
        if self.file.problem or belongs is None or self.folder in SEARCHED_TOGETHER.get(belongs, (belongs,)):
            return None
        if self.folder == "diffusers" and self.file.file_format == "diffusers":
            return None  # DiffusersLoader's folder, beside models/checkpoints where Load Checkpoint finds them
        return f"{self.name} is {self.file.description}, not a {FOLDER_KINDS[self.folder]}: {self.file.advice}"

    def as_json(self) -> dict:
        """The fields clients see; no server paths (the name locates the file within its folder)."""
        file, hashes = self.file, self.hashes
        shown = f"{self.folder}/{self.name}"
        return {"folder": self.folder, "name": self.name, "kind": file.kind, "architecture": file.architecture,
                "precision": file.precision, "size": file.size, "format": file.file_format,
                "sha256": hashes.sha256 if hashes else None,
                "model_hash": hashes.model_hash if hashes else None,
                "lora_hash": hashes.lora_hash if hashes else None,
                "training": file.training.as_json() if file.training else None,
                "problem": file.problem.replace(str(file.path), shown) if file.problem else None,
                "misplaced": self.misplaced, "unsupported": file.unsupported}


def installed_models(installation: Folders, folders: Iterable[str] = KINDS, *, compute_hashes: bool = True,
                     cache: HashCache | None = None) -> list[InstalledModel]:
    """The files of the given model folders of `installation`, in listing order, then what could not be followed in
    them (dangling links, link loops: `file.problem` says why); hashes computed (once per file version) or, with
    `compute_hashes=False`, only those already known (from `cache`, else the installation's hash database)."""
    if cache is None:
        with open_hash_cache(installation) as cache:
            return installed_models(installation, folders, compute_hashes=compute_hashes, cache=cache)
    found = []
    for folder in folders:
        scan = scan_models(installation, folder)
        for name in scan.names:
            path = find_model(installation, folder, name)
            file = identify_model(path)
            hashes = None
            if not path.is_dir():
                hashes = cache.hashes(path) if compute_hashes else cache.cached(path)
            found.append(InstalledModel(folder, name, file, hashes))
        found += [InstalledModel(folder, entry.name, unusable_model(entry.path, 0, "", f"{entry.path} is "
                                                                                       f"{entry.reason}"), None)
                  for entry in scan.broken]
    return found
