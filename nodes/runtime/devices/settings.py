"""What the start-up flags ask of devices (--cpu, --gpu-only, --lowvram, --dtype), checked once, without torch."""
from __future__ import annotations

from dataclasses import dataclass

MODES = ("auto", "cpu", "gpu_only", "lowvram")
DTYPES = ("auto", "fp32", "fp16", "bf16")


@dataclass(frozen=True)
class DeviceSettings:
    """How models are placed: `mode` picks the policy, `dtype` the weight precision, `reserve_bytes` the headroom
    kept free on the compute device for activations, so that loading a model never takes the last byte."""

    mode: str = "auto"  # "auto" | "cpu" | "gpu_only" | "lowvram"
    dtype: str = "auto"  # "auto" | "fp32" | "fp16" | "bf16"
    reserve_bytes: int = 1 << 30

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown device mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; choose one of {', '.join(DTYPES)}")
        if self.reserve_bytes < 0:
            raise ValueError(f"reserve_bytes must be >= 0, not {self.reserve_bytes}")

    @classmethod
    def from_flags(cls, *, cpu: bool = False, gpu_only: bool = False, lowvram: bool = False, dtype: str = "auto",
                   reserve_bytes: int = 1 << 30) -> DeviceSettings:
        """Settings from the CLI's boolean flags; at most one of --cpu, --gpu-only and --lowvram may be given."""
        chosen = [mode for mode, on in (("cpu", cpu), ("gpu_only", gpu_only), ("lowvram", lowvram)) if on]
        if len(chosen) > 1:
            flags = ", ".join("--" + mode.replace("_", "-") for mode in chosen)
            raise ValueError(f"{flags} cannot be used together; pick one")
        return cls(mode=chosen[0] if chosen else "auto", dtype=dtype, reserve_bytes=reserve_bytes)


_requested = DeviceSettings()


def request_device_settings(settings: DeviceSettings) -> None:
    """Start-up records the flags here without importing torch; the manager is built from them on first use."""
    global _requested
    _requested = settings


def requested_device_settings() -> DeviceSettings:
    return _requested
