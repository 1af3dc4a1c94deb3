"""ModelManager bookkeeping with real torch modules; a small device is simulated by an injected free_memory."""
from __future__ import annotations

import gc
import logging

import pytest
import torch

from nodes.runtime.devices import DeviceSettings, ModelManager, configure_devices, model_manager, module_bytes

CPU = torch.device("cpu")
LAYER = module_bytes(torch.nn.Linear(64, 64))  # 64*64*4 + 64*4 bytes


def small_device(capacity: int, mode: str = "auto", compute: torch.device = CPU) -> tuple[ModelManager, dict]:
    """A manager whose compute device holds `capacity` bytes: free memory is capacity minus what is resident."""
    state: dict = {}

    def free_memory(device: torch.device) -> int:
        return capacity - sum(model.nbytes for model in state["manager"].resident())

    state["manager"] = ModelManager(DeviceSettings(mode=mode, reserve_bytes=0), compute_device=compute,
                                    offload_device=CPU, free_memory=free_memory)
    return state["manager"], state


def names(models) -> list[str]:
    return [model.name for model in models]


def tracked_linears(manager: ModelManager, *labels: str) -> list[torch.nn.Linear]:
    modules = []
    for label in labels:
        module = torch.nn.Linear(64, 64)
        manager.track(module, label)
        modules.append(module)
    return modules


def test_module_bytes_counts_parameters_buffers_and_shared_tensors_once():
    norm = torch.nn.BatchNorm1d(8)  # weight, bias, running_mean, running_var (float32) + num_batches_tracked (int64)
    assert module_bytes(norm) == 4 * 8 * 4 + 8
    tied = torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False), torch.nn.Linear(4, 4, bias=False))
    tied[1].weight = tied[0].weight
    assert module_bytes(tied) == 4 * 4 * 4


def test_least_recently_used_model_is_evicted_when_a_third_would_not_fit():
    manager, _ = small_device(capacity=2 * LAYER + LAYER // 2)
    a, b, c = tracked_linears(manager, "A", "B", "C")
    manager.use(a)
    manager.use(b)
    assert names(manager.resident()) == ["B", "A"]
    manager.use(c)
    assert names(manager.resident()) == ["C", "B"]
    assert {m.name: m.device for m in manager.tracked()}["A"] == manager.offload_device
    # A used again: now B is the least recently used one.
    manager.use(a)
    assert names(manager.resident()) == ["A", "C"]


def test_using_a_resident_model_evicts_nothing_and_refreshes_its_place():
    manager, _ = small_device(capacity=2 * LAYER)
    a, b = tracked_linears(manager, "A", "B")
    manager.use(a)
    manager.use(b)
    manager.use(a)
    assert names(manager.resident()) == ["A", "B"]
    orders = [m.last_used for m in manager.resident()]
    assert orders == sorted(orders, reverse=True)


def test_models_used_together_are_not_evicted_for_each_other():
    manager, _ = small_device(capacity=2 * LAYER)
    a, b, c = tracked_linears(manager, "A", "B", "C")
    manager.use(a)
    manager.use(b, c)  # needs both: A goes, B and C stay
    assert sorted(names(manager.resident())) == ["B", "C"]


def test_reserve_is_kept_free():
    def manager(free: int) -> ModelManager:
        return ModelManager(DeviceSettings(reserve_bytes=LAYER), compute_device=torch.device("meta"),
                            offload_device=CPU, free_memory=lambda device: free)

    assert manager(2 * LAYER - 1).load_device(LAYER) == CPU
    assert manager(2 * LAYER).load_device(LAYER) == torch.device("meta")


def test_a_model_the_program_dropped_is_forgotten():
    manager, _ = small_device(capacity=4 * LAYER)
    a, b = tracked_linears(manager, "A", "B")
    manager.use(a, b)
    del a
    gc.collect()
    assert names(manager.resident()) == ["B"]
    assert names(manager.tracked()) == ["B"]


def test_untracked_modules_are_tracked_on_first_use():
    manager, _ = small_device(capacity=4 * LAYER)
    module = torch.nn.Linear(64, 64)
    manager.use(module)
    assert names(manager.resident()) == ["Linear"]


def test_free_leaves_nothing_resident():
    manager, _ = small_device(capacity=4 * LAYER)
    a, b = tracked_linears(manager, "A", "B")
    manager.use(a, b)
    manager.free()
    assert manager.resident() == []
    assert {m.device for m in manager.tracked()} == {manager.offload_device}


class Recorder:
    """Distinguishes the compute from the offload device on a CPU-only machine by the answer to free_memory."""

    def __init__(self, free: int) -> None:
        self.free = free

    def __call__(self, device: torch.device) -> int:
        return self.free


@pytest.mark.parametrize("mode, free, expected", [
    ("auto", 10 * LAYER, "compute"),
    ("auto", LAYER // 2, "offload"),
    ("gpu_only", 0, "compute"),
    ("cpu", 0, "compute"),
    ("lowvram", 10 * LAYER, "offload"),
])
def test_load_device_in_each_mode(mode, free, expected):
    # meta stands in for the compute device: it makes the two sides tell apart without a GPU; nothing is moved.
    manager = ModelManager(DeviceSettings(mode=mode, reserve_bytes=0), compute_device=torch.device("meta"),
                           offload_device=CPU, free_memory=Recorder(free))
    want = manager.compute_device if expected == "compute" else manager.offload_device
    assert manager.load_device(LAYER) == want


def test_load_device_evicts_least_recently_used_to_make_room():
    manager, _ = small_device(capacity=2 * LAYER)
    a, b = tracked_linears(manager, "A", "B")
    manager.use(a)
    manager.use(b)
    assert manager.load_device(LAYER) == manager.compute_device
    assert names(manager.resident()) == ["B"]
    assert manager.load_device(10 * LAYER) == manager.offload_device  # cannot fit at all: evicts nothing
    assert names(manager.resident()) == ["B"]


@pytest.mark.parametrize("dtype", ["auto", "fp32", "fp16", "bf16"])
def test_cpu_weights_are_float32_whatever_dtype_asks(dtype, caplog):
    manager = ModelManager(DeviceSettings(mode="cpu", dtype=dtype))
    assert manager.compute_device == CPU
    with caplog.at_level(logging.WARNING, logger="nodes.runtime.devices.manager"):
        assert manager.weight_dtype() is torch.float32
        assert manager.weight_dtype() is torch.float32
    warnings = [r for r in caplog.records if "ignored" in r.getMessage()]
    assert len(warnings) == (1 if dtype in ("fp16", "bf16") else 0)


def test_settings_reject_unknown_values_and_conflicting_flags():
    with pytest.raises(ValueError):
        DeviceSettings(mode="fast")
    with pytest.raises(ValueError):
        DeviceSettings(dtype="fp8")
    with pytest.raises(ValueError, match="--cpu, --lowvram"):
        DeviceSettings.from_flags(cpu=True, lowvram=True)
    assert DeviceSettings.from_flags(gpu_only=True, dtype="bf16") == DeviceSettings(mode="gpu_only", dtype="bf16")
    assert DeviceSettings.from_flags() == DeviceSettings()


def test_process_wide_manager_is_replaced_by_configure_devices():
    first = model_manager()
    assert model_manager() is first
    configured = configure_devices(DeviceSettings(mode="cpu"))
    try:
        assert model_manager() is configured is not first
        assert configured.compute_device == CPU
    finally:
        configure_devices(DeviceSettings())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_modules_really_move_to_cuda_and_back():
    cuda = torch.device("cuda", torch.cuda.current_device())
    manager, _ = small_device(capacity=2 * LAYER + LAYER // 2, compute=cuda)
    a, b, c = tracked_linears(manager, "A", "B", "C")
    for module in (a, b, c):
        manager.use(module)
    assert a.weight.device == CPU
    assert b.weight.device.type == c.weight.device.type == "cuda"
    assert names(manager.resident()) == ["C", "B"]
    manager.free()
    assert {m.weight.device for m in (a, b, c)} == {CPU}
    assert manager.resident() == []
    manager.track(torch.nn.Linear(4, 4).to(cuda), "born on cuda")
    assert "born on cuda" in names(manager.resident())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_lowvram_streams_weights_through_cuda():
    cuda = torch.device("cuda", torch.cuda.current_device())
    network = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    inputs = torch.randn(3, 8)
    with torch.no_grad():
        expected = network(inputs)
    manager = ModelManager(DeviceSettings(mode="lowvram"), compute_device=cuda, offload_device=CPU)
    manager.use(network)
    with torch.no_grad():
        output = network(inputs.to(cuda))
    assert output.device.type == "cuda"
    torch.testing.assert_close(output.cpu(), expected)
    assert {p.device for p in network.parameters()} == {CPU}
