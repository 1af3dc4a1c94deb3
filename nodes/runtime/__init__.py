"""The diffusion runtime the built-in nodes use: sampling now; checkpoints, devices, LoRA and tokenizer to come."""
