"""ComfyUI's `comfy` package for plugins: samplers, model_management and utils, mapped onto Latentloom's runtime."""
