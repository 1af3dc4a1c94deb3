"""ComfyUI's `comfy.model_management` for plugins: Latentloom's devices, dtypes, free memory, model loading, cache
release and interrupt check.

Interrupts act on the node running in the calling thread; outside a run there is nothing to stop.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Iterable

from graph_engine import Interrupted, current_context
from nodes.comfy_compat.not_offered import attribute_not_offered

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

InterruptProcessingException = Interrupted  # what ComfyUI's check raises; plugins catch it by this name


def get_torch_device() -> "torch.device":
    """The device models compute on (a GPU when there is one and it is allowed, else the CPU)."""
    from nodes.runtime.devices import model_manager

    return model_manager().compute_device


def unet_offload_device() -> "torch.device":
    """Where weights wait while they are not computing."""
    from nodes.runtime.devices import model_manager

    return model_manager().offload_device


def intermediate_device() -> "torch.device":
    """Where node outputs (images, latents between nodes) live: the CPU, as in ComfyUI's default mode."""
    import torch

    return torch.device("cpu")


def intermediate_dtype() -> "torch.dtype":
    """The dtype of node outputs between nodes: float32."""
    import torch

    return torch.float32


def unet_inital_load_device(parameters: int = 0, dtype: Any = None) -> "torch.device":
    """Where a new diffusion model's weights are put first (ComfyUI's spelling)."""
    return get_torch_device()


def vae_device() -> "torch.device":
    return get_torch_device()


def vae_offload_device() -> "torch.device":
    return unet_offload_device()


def text_encoder_device() -> "torch.device":
    return get_torch_device()


def text_encoder_offload_device() -> "torch.device":
    return unet_offload_device()


def unet_dtype(device: Any = None, model_params: int = 0, supported_dtypes: Any = None,
               weight_dtype: Any = None) -> "torch.dtype":
    """The precision Latentloom keeps diffusion weights in (float32 on the CPU; --dtype, else fp16, on a GPU)."""
    from nodes.runtime.devices import model_manager

    return model_manager().weight_dtype()


def vae_dtype(device: Any = None, allowed_dtypes: Any = None) -> "torch.dtype":
    """The VAE's precision: Latentloom loads every model part in the same one."""
    return unet_dtype()


def text_encoder_dtype(device: Any = None) -> "torch.dtype":
    return unet_dtype()


def get_free_memory(dev: Any = None, torch_free_too: bool = False) -> int | tuple[int, int]:
    """Bytes a new allocation could use on `dev` (the compute device when None); with torch_free_too, (that, the
    part of it torch holds cached), as ComfyUI answers."""
    import torch

    from nodes.runtime.devices import free_device_memory

    device = torch.device(dev) if dev is not None else get_torch_device()
    free = free_device_memory(device)
    if not torch_free_too:
        return free
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
    return free, max(cached, 0)


def get_total_memory(dev: Any = None, torch_total_too: bool = False) -> int | tuple[int, int]:
    """Bytes of memory of `dev` (the compute device when None): a GPU's own, else the system's; with
    torch_total_too, (that, what torch has reserved of it)."""
    import os

    import torch

    device = torch.device(dev) if dev is not None else get_torch_device()
    if device.type == "cuda":
        total, reserved = torch.cuda.mem_get_info(device)[1], torch.cuda.memory_reserved(device)
    else:
        total, reserved = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), 0
    return (total, reserved) if torch_total_too else total


def module_size(module: Any) -> int:
    """Bytes of a torch module's parameters and buffers."""
    from nodes.runtime.devices import module_bytes

    return module_bytes(module)


def cast_to_device(tensor: "torch.Tensor", device: Any, dtype: Any, copy: bool = False) -> "torch.Tensor":
    """The tensor on `device` in `dtype` (a new copy when `copy`)."""
    return tensor.to(device=device, dtype=dtype, copy=copy)


def should_use_fp16(device: Any = None, model_params: int = 0, prioritize_performance: bool = True,
                    manual_cast: bool = False) -> bool:
    """Whether Latentloom computes in float16 (its dtype on a GPU unless --dtype says otherwise)."""
    import torch

    return unet_dtype() == torch.float16


def should_use_bf16(device: Any = None, model_params: int = 0, prioritize_performance: bool = True,
                    manual_cast: bool = False) -> bool:
    import torch

    return unet_dtype() == torch.bfloat16


def get_autocast_device(dev: Any) -> str:
    return getattr(dev, "type", "cuda")


def pytorch_attention_enabled() -> bool:
    return True  # Latentloom's attention is torch's scaled_dot_product_attention


def cpu_mode() -> bool:
    return get_torch_device().type == "cpu"


def is_device_cpu(device: Any) -> bool:
    return getattr(device, "type", device) == "cpu"


def is_device_mps(device: Any) -> bool:
    return getattr(device, "type", device) == "mps"


def is_device_cuda(device: Any) -> bool:
    return getattr(device, "type", device) == "cuda"


def xformers_enabled() -> bool:
    return False  # Latentloom's attention is torch's own


def _modules_of(model: Any) -> list[Any]:
    """The torch modules of a model object: itself, or the UNet, VAE or text encoders Latentloom's objects hold."""
    import torch

    if isinstance(model, torch.nn.Module):
        return [model]
    held = [getattr(model, name, None) for name in ("unet", "module")] + list(getattr(model, "text_encoders", ()))
    return [module for module in held if isinstance(module, torch.nn.Module)]


def load_models_gpu(models: Iterable[Any], memory_required: int = 0, force_patch_weights: bool = False,
                    minimum_memory_required: Any = None, force_full_load: bool = False) -> None:
    """Make the models ready on the compute device through Latentloom's model manager (which evicts others to make
    room, or streams a model that cannot fit); objects that hold no torch module are left as they are."""
    from nodes.runtime.devices import model_manager

    modules = [module for model in models for module in _modules_of(model)]
    if modules:
        model_manager().use(*modules)


def load_model_gpu(model: Any) -> None:
    load_models_gpu([model])


def soft_empty_cache(force: bool = False) -> None:
    """Hand the memory torch keeps cached back to the compute device."""
    from nodes.runtime.devices.memory import empty_cache

    empty_cache(get_torch_device())


def unload_all_models() -> None:
    from nodes.runtime.devices import unload_models

    unload_models()


def interrupt_current_processing(value: bool = True) -> None:
    """Ask the run of the calling thread to stop (value False withdraws the request)."""
    context = current_context()
    if context is None:
        log.debug("interrupt_current_processing called outside a run; nothing to interrupt")
        return
    if value:
        context.interrupt_flag.set()
    else:
        context.interrupt_flag.clear()


def processing_interrupted() -> bool:
    context = current_context()
    return context is not None and context.interrupt_flag.is_set()


def throw_exception_if_processing_interrupted() -> None:
    """Raise InterruptProcessingException when the user asked the running prompt to stop."""
    context = current_context()
    if context is not None:
        context.check_interrupted()


_not_offered = attribute_not_offered(__name__)


def __getattr__(name: str) -> Any:
    """OOM_EXCEPTION is torch's out-of-memory error (loaded when asked); what else ComfyUI's module has and this one
    lacks is named as not offered."""
    if name == "OOM_EXCEPTION":
        import torch

        return torch.cuda.OutOfMemoryError
    return _not_offered(name)
