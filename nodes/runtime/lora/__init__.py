"""LoRA support (library layer): read LoRA/LoCon/LoHa/LoKr/DoRA files, map their keys onto our UNet and CLIP modules
(diffusers' and transformers' names), and patch / restore those modules' weights.

The submodules import torch, so this package exports nothing eagerly; import `key_map`, `lora_file` and `deltas`
directly.
"""
