"""The diffusion runtime the built-in nodes use: sampling, checkpoints and text encoding now; devices and LoRA to come."""
