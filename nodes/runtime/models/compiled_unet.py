"""torch.compile for a MODEL's UNet, applied when sampling (ComfyUI's set_torch_compile_wrapper): the compiled module
(made at once, compiled lazily on its first call) stands in for the UNet during each guider step, through a
predict_noise wrapper, so that the shared UNet module and other MODELs using it stay as they are."""
from __future__ import annotations

from typing import Any, Callable

from graph_engine import InvalidNodeInput

from .wrappers import PREDICT_NOISE

COMPILE_KEY = "torch.compile"


def set_torch_compile_wrapper(model: Any, backend: str | Callable[..., Any],
                              options: dict[str, Any] | None = None) -> None:
    """Sample `model` (a clone) with its UNet compiled by `backend`; replaces an earlier compile wrapper."""
    import torch

    compiled = torch.compile(model.unet, backend=backend, options=options)
    backend_name = backend if isinstance(backend, str) else getattr(backend, "__name__", repr(backend))

    def with_compiled_unet(executor: Any, *args: Any, **kwargs: Any) -> Any:
        target = executor.class_obj.model
        original, target.unet = target.unet, compiled
        try:
            return executor(*args, **kwargs)
        except torch._dynamo.exc.TorchDynamoException as error:
            raise InvalidNodeInput(
                f"TorchCompileModel: torch.compile with backend '{backend_name}' failed on {target.source}'s UNet "
                f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). Choose another "
                "backend or remove the TorchCompileModel node (inductor on the CPU needs a C++ compiler; "
                "cudagraphs needs a CUDA device)") from error
        finally:
            target.unet = original

    wrappers = model.model_options.setdefault("transformer_options", {}).setdefault("wrappers", {})
    wrappers.setdefault(PREDICT_NOISE, {})[COMPILE_KEY] = [with_compiled_unet]
