"""The diffusion runtime the built-in nodes use: sampling and checkpoint loading now; devices, LoRA and tokenizer to come."""
