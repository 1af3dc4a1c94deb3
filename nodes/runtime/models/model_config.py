"""A model's configuration as our own modules keep it: diffusers' keys and values, read as a mapping
(`config["latent_channels"]`, `dict(config)`) or as attributes (`config.latent_channels`), as callers read diffusers'
configs, and fixed once the module is built, since its layers were made from it."""
from __future__ import annotations

from typing import Any, NoReturn


class ModelConfig(dict):
    """A read-only dict whose keys also read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the model config has no '{name}'") from None

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a model's config is read-only: its layers were built from it")

    __setitem__ = __delitem__ = __setattr__ = __delattr__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple:
        """Copied and pickled from its items (the default would fill an empty one item by item)."""
        return type(self), (dict(self),)
