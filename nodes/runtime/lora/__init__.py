"""LoRA support (library layer): read LoRA/LoCon/LoHa/LoKr/DoRA files, map their keys onto our diffusers UNet and
transformers CLIP modules, and patch / restore those modules' weights.

The submodules import torch, so this package exports nothing eagerly; import `key_map`, `lora_file` and `deltas`
directly.
"""
