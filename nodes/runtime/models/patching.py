"""ComfyUI's model-patch surface on a MODEL: `clone()`, `model_options` with the sampler cfg hooks, the UNet patches
(honoured by unet_forward.py) and the model function wrapper, and the guidance step that honours the cfg hooks as
ComfyUI's sampling_function and cfg_function do.

The hooks see ComfyUI's argument dicts: "cond"/"uncond" are noise (x - x0 prediction) in the cfg function, x0
predictions elsewhere ("cond_denoised", "uncond_denoised", "denoised"); "sigma"/"timestep" is sigma per sample;
"model" is the DiffusionModel being sampled.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
from typing import Any, Callable

import torch

PatchFunction = Callable[[dict[str, Any]], Any]


def new_model_options() -> dict[str, Any]:
    """An unpatched model's options, as ComfyUI's ModelPatcher starts them."""
    return {"transformer_options": {}}


def copy_model_options(options: dict[str, Any]) -> dict[str, Any]:
    """Nested dicts and lists copied, their leaves (functions, tensors) shared: a clone's hooks are its own."""
    def copy(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: copy(item) for key, item in value.items()}
        if isinstance(value, list):
            return [copy(item) for item in value]
        return value
    return copy(options)


class ModelPatchSurface:
    """The methods ComfyUI's model-patching nodes and plugins call on a MODEL (mixed into DiffusionModel)."""

    model_options: dict[str, Any]

    def clone(self) -> Any:
        """A new MODEL sharing the weights, with its own copy of `model_options`."""
        return dataclasses.replace(self, model_options=copy_model_options(self.model_options))

    def set_model_sampler_cfg_function(self, function: Callable[..., torch.Tensor],
                                       disable_cfg1_optimization: bool = False) -> None:
        """Replace the cfg combination; a function of three arguments gets (cond, uncond, cond_scale), as in
        ComfyUI's older interface."""
        if len(inspect.signature(function).parameters) == 3:
            old_style = function
            function = lambda args: old_style(args["cond"], args["uncond"], args["cond_scale"])  # noqa: E731
        self.model_options["sampler_cfg_function"] = function
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True

    def set_model_sampler_post_cfg_function(self, function: PatchFunction,
                                            disable_cfg1_optimization: bool = False) -> None:
        """Append a function of the guided x0 prediction, run after the cfg combination."""
        self._append_hook("sampler_post_cfg_function", function, disable_cfg1_optimization)

    def set_model_sampler_pre_cfg_function(self, function: PatchFunction,
                                           disable_cfg1_optimization: bool = False) -> None:
        """Append a function of the [cond, uncond] x0 predictions, run before the cfg combination."""
        self._append_hook("sampler_pre_cfg_function", function, disable_cfg1_optimization)

    def set_model_patch(self, patch: Callable[..., Any], name: str) -> None:
        """Append a UNet patch under ComfyUI's name (unet_forward.py and transformer_forward.py say where each
        runs)."""
        patches = self.model_options["transformer_options"].setdefault("patches", {})
        patches[name] = [*patches.get(name, []), patch]

    def set_model_patch_replace(self, patch: Callable[..., Any], name: str, block_name: str, number: int,
                                transformer_index: int | None = None) -> None:
        """Replace the "attn1" or "attn2" attention of one block (or of one transformer block inside it)."""
        _put_patch_replace(self.model_options, patch, name, block_name, number, transformer_index)

    def set_model_attn1_patch(self, patch: Callable[..., Any]) -> None:
        self.set_model_patch(patch, "attn1_patch")

    def set_model_attn2_patch(self, patch: Callable[..., Any]) -> None:
        self.set_model_patch(patch, "attn2_patch")

    def set_model_attn1_replace(self, patch: Callable[..., Any], block_name: str, number: int,
                                transformer_index: int | None = None) -> None:
        self.set_model_patch_replace(patch, "attn1", block_name, number, transformer_index)

    def set_model_attn2_replace(self, patch: Callable[..., Any], block_name: str, number: int,
                                transformer_index: int | None = None) -> None:
        self.set_model_patch_replace(patch, "attn2", block_name, number, transformer_index)

    def set_model_attn1_output_patch(self, patch: Callable[..., Any]) -> None:
        self.set_model_patch(patch, "attn1_output_patch")

    def set_model_attn2_output_patch(self, patch: Callable[..., Any]) -> None:
        self.set_model_patch(patch, "attn2_output_patch")

    def set_model_input_block_patch(self, patch: Callable[..., Any]) -> None:
        self.set_model_patch(patch, "input_block_patch")

    def set_model_input_block_patch_after_skip(self, patch: Callable[..., Any]) -> None:
        self.set_model_patch(patch, "input_block_patch_after_skip")

    def set_model_output_block_patch(self, patch: Callable[..., Any]) -> None:
        self.set_model_patch(patch, "output_block_patch")

    def set_model_emb_patch(self, patch: Callable[..., Any]) -> None:
        self.set_model_patch(patch, "emb_patch")

    def set_model_unet_function_wrapper(self, wrapper: Callable[..., torch.Tensor]) -> None:
        """Wrap each model call: wrapper(apply_model, {"input", "timestep", "c", "cond_or_uncond"}) -> x0."""
        self.model_options["model_function_wrapper"] = wrapper

    def _append_hook(self, key: str, function: PatchFunction, disable_cfg1_optimization: bool) -> None:
        # a new list, so that a clone sharing the old one (should any code share it) is left alone
        self.model_options[key] = [*self.model_options.get(key, []), function]
        if disable_cfg1_optimization:
            self.model_options["disable_cfg1_optimization"] = True


def set_model_options_patch_replace(model_options: dict[str, Any], patch: Callable[..., Any], name: str,
                                    block_name: str, number: int,
                                    transformer_index: int | None = None) -> dict[str, Any]:
    """A copy of `model_options` whose "attn1"/"attn2" attention at the block is `patch` (ComfyUI's function of this
    name: a guidance hook's extra model call with one attention changed, as PAG makes)."""
    options = copy_model_options(model_options)
    _put_patch_replace(options, patch, name, block_name, number, transformer_index)
    return options


def _put_patch_replace(options: dict[str, Any], patch: Callable[..., Any], name: str, block_name: str, number: int,
                       transformer_index: int | None) -> None:
    replaces = options.setdefault("transformer_options", {}).setdefault("patches_replace", {})
    key = (block_name, number) if transformer_index is None else (block_name, number, transformer_index)
    replaces[name] = {**replaces.get(name, {}), key: patch}


def skips_uncond(options: dict[str, Any], cfg: float) -> bool:
    """At cfg 1 the negative cannot change plain CFG, so it is not computed unless a patch asks for it."""
    return math.isclose(cfg, 1.0) and not options.get("disable_cfg1_optimization", False)


def guide(model: Any, predictions: list[torch.Tensor], cfg: float, x: torch.Tensor, sigma: torch.Tensor,
          conds: tuple[Any, Any]) -> torch.Tensor:
    """The guided x0 from the [cond, uncond] x0 predictions (uncond absent when skipped), through the model's
    pre-cfg hooks and then cfg_function, as ComfyUI's sampling_function does."""
    options = model.model_options
    cond_pred = predictions[0]
    uncond_pred = predictions[1] if len(predictions) > 1 else torch.zeros_like(cond_pred)
    cond, uncond = conds[0], conds[1] if len(predictions) > 1 else None
    sigma = _per_sample(sigma, x)
    for function in options.get("sampler_pre_cfg_function", []):
        cond_pred, uncond_pred = function({"conds": [cond, uncond], "conds_out": [cond_pred, uncond_pred],
                                           "cond_scale": cfg, "timestep": sigma, "input": x, "sigma": sigma,
                                           "model": model, "model_options": options})
    if len(predictions) == 1 and "sampler_cfg_function" not in options:
        return _post_cfg(model, cond_pred, cond_pred, uncond_pred, cfg, x, sigma, cond, uncond)
    return cfg_function(model, cond_pred, uncond_pred, cfg, x, sigma, cond, uncond)


def cfg_function(model: Any, cond_pred: torch.Tensor, uncond_pred: torch.Tensor, cfg: float, x: torch.Tensor,
                 sigma: torch.Tensor, cond: Any = None, uncond: Any = None) -> torch.Tensor:
    """ComfyUI's cfg_function: the model's cfg function (given noise, "cond"/"uncond" = x - x0) or plain CFG over
    two x0 predictions, then its post-cfg functions; the guiders that combine more than two predictions (DualCFG,
    DualModel) run their pairs through it."""
    options = model.model_options
    sigma = _per_sample(sigma, x)
    if "sampler_cfg_function" in options:
        result = x - options["sampler_cfg_function"]({
            "cond": x - cond_pred, "uncond": x - uncond_pred, "cond_scale": cfg, "timestep": sigma, "input": x,
            "sigma": sigma, "cond_denoised": cond_pred, "uncond_denoised": uncond_pred, "model": model,
            "model_options": options, "input_cond": cond, "input_uncond": uncond})
    else:
        result = uncond_pred + (cond_pred - uncond_pred) * cfg
    return _post_cfg(model, result, cond_pred, uncond_pred, cfg, x, sigma, cond, uncond)


def _post_cfg(model: Any, result: torch.Tensor, cond_pred: torch.Tensor, uncond_pred: torch.Tensor, cfg: float,
              x: torch.Tensor, sigma: torch.Tensor, cond: Any, uncond: Any) -> torch.Tensor:
    options = model.model_options
    for function in options.get("sampler_post_cfg_function", []):
        result = function({"denoised": result, "cond": cond, "uncond": uncond, "cond_scale": cfg, "model": model,
                           "uncond_denoised": uncond_pred, "cond_denoised": cond_pred, "sigma": sigma,
                           "model_options": options, "input": x})
    return result


def _per_sample(sigma: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sigma.reshape(-1).expand(x.shape[0]) if sigma.numel() == 1 else sigma.reshape(-1)
