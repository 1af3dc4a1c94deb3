"""--lowvram streaming hooks and out-of-memory errors, on real modules and real torch exception objects."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nodes.runtime.devices import (DeviceSettings, ModelManager, NodeOutOfMemoryError, configure_devices,
                                   describe_out_of_memory, is_out_of_memory, run_with_memory_retry)

CPU = torch.device("cpu")
REPO = Path(__file__).resolve().parents[3]


def small_network() -> torch.nn.Module:
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.LayerNorm(16),
                                  torch.nn.Linear(16, 4))
    network.scale = torch.nn.Parameter(torch.tensor(2.0))  # a weight held by a module that has children
    return network.eval()


def hook_counts(module: torch.nn.Module) -> list[tuple[int, int]]:
    return [(len(m._forward_pre_hooks), len(m._forward_hooks)) for m in module.modules()]


def lowvram_manager() -> ModelManager:
    return ModelManager(DeviceSettings(mode="lowvram", reserve_bytes=0), compute_device=CPU, offload_device=CPU,
                        free_memory=lambda device: 0)


def test_lowvram_hooks_give_the_plain_output_and_are_installed_once():
    network = small_network()
    inputs = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = network(inputs)
    manager = lowvram_manager()
    manager.use(network)
    counts = hook_counts(network)
    manager.use(network)
    assert hook_counts(network) == counts
    # Every module holding weights is hooked (including the container holding `scale`); GELU holds none.
    assert counts == [(1, 1), (1, 1), (0, 0), (1, 1), (1, 1)]
    with torch.no_grad():
        assert torch.equal(network(inputs), expected)
    assert manager.resident() == []  # streamed, never resident as a whole


def test_free_drops_lowvram_hooks():
    network = small_network()
    manager = lowvram_manager()
    manager.use(network)
    manager.free()
    assert all(counts == (0, 0) for counts in hook_counts(network))
    manager.use(network)  # installs them again after a free
    assert hook_counts(network)[1] == (1, 1)


def test_auto_mode_streams_a_model_that_cannot_fit_and_loads_it_whole_once_it_can():
    free = {"bytes": 0}
    manager = ModelManager(DeviceSettings(reserve_bytes=0), compute_device=CPU, offload_device=CPU,
                           free_memory=lambda device: free["bytes"])
    network = small_network()
    manager.use(network)
    assert manager.resident() == [] and hook_counts(network)[1] == (1, 1)
    free["bytes"] = 1 << 20
    manager.use(network)
    assert [m.name for m in manager.resident()] == ["Sequential"]
    assert all(counts == (0, 0) for counts in hook_counts(network))


CUDA_MESSAGE = ("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total capacity; 5.12 GiB already "
                "allocated; 1.20 GiB free; 5.30 GiB reserved in total by PyTorch)")


def test_out_of_memory_errors_are_recognised():
    assert is_out_of_memory(torch.OutOfMemoryError(CUDA_MESSAGE))
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory."))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied (3x8 and 4x4)"))
    assert not is_out_of_memory(ValueError("out of memory"))  # not a torch runtime failure


def test_out_of_memory_description_names_the_amount_and_what_to_try():
    text = describe_out_of_memory(torch.OutOfMemoryError(CUDA_MESSAGE))
    assert "2.00 GiB" in text and "--lowvram" in text and "batch size" in text
    plain = describe_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert "GiB" not in plain and "--lowvram" in plain


def test_retry_frees_models_then_runs_again():
    manager = configure_devices(DeviceSettings(mode="cpu"))
    try:
        module = torch.nn.Linear(4, 4)
        manager.use(module)
        calls = []

        def work():
            calls.append(len(manager.resident()))
            if len(calls) == 1:
                raise torch.OutOfMemoryError(CUDA_MESSAGE)
            return "done"

        assert run_with_memory_retry(work, node="3 (KSampler)") == "done"
        assert calls == [1, 0]  # the retry ran with the models unloaded

        def always_fails():
            raise torch.OutOfMemoryError(CUDA_MESSAGE)

        with pytest.raises(NodeOutOfMemoryError, match=r"Node 3 \(KSampler\).*2\.00 GiB") as raised:
            run_with_memory_retry(always_fails, node="3 (KSampler)")
        assert raised.value.requested_bytes == 2 << 30 and raised.value.node == "3 (KSampler)"

        def other_error():
            raise ValueError("bad input")

        with pytest.raises(ValueError):
            run_with_memory_retry(other_error, node="4")
    finally:
        configure_devices(DeviceSettings())


def test_importing_the_package_does_not_import_torch():
    code = ("import sys; import nodes.runtime.devices as d; d.DeviceSettings.from_flags(lowvram=True); "
            "assert not d.is_out_of_memory(ValueError()); print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
