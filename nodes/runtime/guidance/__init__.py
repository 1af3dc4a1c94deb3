"""Conditioning and classifier-free guidance: how prompts steer each denoising step."""
from .cfg import GuidedDenoiser
from .conditioning import CondEntry, read_conditioning

__all__ = ["CondEntry", "GuidedDenoiser", "read_conditioning"]
