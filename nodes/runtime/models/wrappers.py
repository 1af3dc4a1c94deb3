"""ComfyUI's wrappers (comfy.patcher_extension): functions a MODEL adds around a step of sampling, each called with
an executor that runs the rest of the chain; the first added is the outermost. Kept in
model_options["transformer_options"]["wrappers"][kind][key] (a list), as ComfyUI gathers them for sampling.

Honoured here: "predict_noise", around a guider's prediction at one step; `executor.class_obj` is the guider,
whose `cfg` the step then uses (CFGOverride sets it)."""
from __future__ import annotations

from typing import Any, Callable

PREDICT_NOISE = "predict_noise"


def all_wrappers(kind: str, model_options: dict[str, Any]) -> list[Callable[..., Any]]:
    """The wrappers of one kind in the order they were added (keys in insertion order)."""
    by_key = model_options.get("transformer_options", {}).get("wrappers", {}).get(kind, {})
    return [wrapper for wrappers in by_key.values() for wrapper in wrappers]


def add_wrapper(model_options: dict[str, Any], kind: str, key: Any, wrapper: Callable[..., Any]) -> None:
    """Append `wrapper` to the MODEL's wrappers of `kind` under `key` (None for ComfyUI's add_wrapper)."""
    transformer_options = model_options.setdefault("transformer_options", {})
    transformer_options.setdefault("wrappers", {}).setdefault(kind, {}).setdefault(key, []).append(wrapper)


class WrapperExecutor:
    """One link of the chain: calling it runs the next wrapper, or the original function after the last."""

    def __init__(self, original: Callable[..., Any], class_obj: Any, wrappers: list[Callable[..., Any]],
                 index: int = 0) -> None:
        self.original, self.class_obj, self.wrappers, self.index = original, class_obj, wrappers, index

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return WrapperExecutor(self.original, self.class_obj, self.wrappers, self.index + 1).execute(*args, **kwargs)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        if self.index == len(self.wrappers):
            return self.original(*args, **kwargs)
        return self.wrappers[self.index](self, *args, **kwargs)


def with_predict_noise_wrappers(guider: Any, denoiser: Callable[..., Any]) -> Callable[..., Any]:
    """`denoiser` run inside the guider's MODEL's predict_noise wrappers (ComfyUI's arguments: x, sigma,
    model_options, seed); a denoiser with a `cfg` takes the guider's, as the wrappers leave it for the step."""
    wrappers = all_wrappers(PREDICT_NOISE, guider.model.model_options)
    if not wrappers:
        return denoiser

    def predict_noise(x: Any, sigma: Any, model_options: dict[str, Any], seed: int | None, **kwargs: Any) -> Any:
        if hasattr(denoiser, "cfg"):
            denoiser.cfg = float(guider.cfg)
        return denoiser(x, sigma, **kwargs)

    def wrapped(x: Any, sigma: Any, **kwargs: Any) -> Any:
        executor = WrapperExecutor(predict_noise, guider, wrappers)
        return executor.execute(x, sigma, guider.model.model_options, None, **kwargs)

    return wrapped
