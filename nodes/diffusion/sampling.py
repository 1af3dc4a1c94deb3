"""KSampler and KSamplerAdvanced, with ComfyUI's inputs and defaults; one progress event and preview per step."""
from __future__ import annotations

from graph_engine import current_context
from graph_engine.estimate import NodeEstimate, ValueSize
from nodes.runtime.sampler_names import SAMPLER_NAMES, SCHEDULER_NAMES

MAX_SEED = 0xFFFFFFFFFFFFFFFF


def progress_reporter(model):
    """Per-step callback: progress with a latent-to-RGB preview (read without waiting for the device, so it may be
    an earlier step's: nodes/runtime/step_previews.py), and the interrupt check (inside progress)."""
    context = current_context()
    if context is None:
        return None
    from nodes.runtime.step_previews import StepPreviews

    previews = StepPreviews(model.latent_format)

    def on_step(step: int, total: int, denoised) -> None:
        context.progress(step, total, preview=previews.step(denoised))

    return on_step


def sampling_estimate(latent: ValueSize | None, cfg: float | None) -> NodeEstimate | None:
    """The sampled latent and the starting noise (host memory, the latent's shape) and, when the model computes in
    host memory, the sampler's latents and the UNet's first block (twice for cfg other than 1: cond and uncond)."""
    if latent is None or len(latent.shape) != 4:
        return None
    from nodes.runtime.models.estimates import computes_in_host_memory, sampling_bytes

    result = ValueSize.array(latent.shape)
    new_bytes = 2 * result.nbytes
    if computes_in_host_memory():
        new_bytes += sampling_bytes(latent.shape, 1 if cfg in (None, 1) else 2)
    return NodeEstimate((result,), new_bytes, f"sampling a latent of {' x '.join(map(str, latent.shape))} values")


def _common_inputs() -> dict:
    return {"steps": ("INT", {"default": 20, "min": 1, "max": 10000, "tooltip": "The number of denoising steps."}),
            "cfg": ("FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01,
                              "tooltip": "Classifier-free guidance scale: how strongly the prompt is followed."}),
            "sampler_name": (list(SAMPLER_NAMES), {"tooltip": "The sampling algorithm."}),
            "scheduler": (list(SCHEDULER_NAMES), {"tooltip": "How the noise levels are spaced over the steps."}),
            "positive": ("CONDITIONING", {"tooltip": "What the image should show."}),
            "negative": ("CONDITIONING", {"tooltip": "What the image should not show."}),
            "latent_image": ("LATENT", {"tooltip": "The latent to denoise (empty for text-to-image)."})}


class KSampler:
    CATEGORY = "model/sampling"
    RETURN_TYPES = ("LATENT",)
    OUTPUT_TOOLTIPS = ("The denoised latent.",)
    FUNCTION = "sample"
    DESCRIPTION = "Denoises the latent with the model, guided by the positive and negative prompts."

    @classmethod
    def INPUT_TYPES(cls):
        common = _common_inputs()
        return {"required": {
            "model": ("MODEL", {"tooltip": "The model used for denoising."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": MAX_SEED, "control_after_generate": True,
                             "tooltip": "The random seed of the noise."}),
            "steps": common["steps"], "cfg": common["cfg"], "sampler_name": common["sampler_name"],
            "scheduler": common["scheduler"], "positive": common["positive"], "negative": common["negative"],
            "latent_image": common["latent_image"],
            "denoise": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01,
                                  "tooltip": "How much of the latent is replaced: below 1 keeps its structure "
                                             "(img2img)."})}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        return sampling_estimate(sizes.get("latent_image"), inputs.get("cfg"))

    def sample(self, model, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str, positive,
               negative, latent_image, denoise: float = 1.0):
        from nodes.runtime.sample_latent import sample_latent

        return (sample_latent(model, latent_image, positive, negative, seed=seed, steps=steps, cfg=cfg,
                              sampler_name=sampler_name, scheduler=scheduler, denoise=denoise,
                              on_step=progress_reporter(model)),)


class KSamplerAdvanced:
    CATEGORY = "model/sampling"
    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"
    DESCRIPTION = ("KSampler over a slice of the steps (start_at_step to end_at_step), optionally without adding "
                   "noise or keeping the leftover noise: for two-stage workflows.")

    @classmethod
    def INPUT_TYPES(cls):
        common = _common_inputs()
        return {"required": {
            "model": ("MODEL",),
            "add_noise": (["enable", "disable"],),
            "noise_seed": ("INT", {"default": 0, "min": 0, "max": MAX_SEED, "control_after_generate": True}),
            **common,
            "start_at_step": ("INT", {"default": 0, "min": 0, "max": 10000}),
            "end_at_step": ("INT", {"default": 10000, "min": 0, "max": 10000}),
            "return_with_leftover_noise": (["disable", "enable"],)}}

    @classmethod
    def ESTIMATE_MEMORY(cls, inputs, sizes):
        return sampling_estimate(sizes.get("latent_image"), inputs.get("cfg"))

    def sample(self, model, add_noise: str, noise_seed: int, steps: int, cfg: float, sampler_name: str,
               scheduler: str, positive, negative, latent_image, start_at_step: int, end_at_step: int,
               return_with_leftover_noise: str, denoise: float = 1.0):
        from nodes.runtime.sample_latent import sample_latent

        return (sample_latent(model, latent_image, positive, negative, seed=noise_seed, steps=steps, cfg=cfg,
                              sampler_name=sampler_name, scheduler=scheduler, denoise=denoise,
                              add_noise=add_noise != "disable", start_step=start_at_step, last_step=end_at_step,
                              force_full_denoise=return_with_leftover_noise != "enable",
                              on_step=progress_reporter(model)),)


NODE_CLASS_MAPPINGS = {"KSampler": KSampler, "KSamplerAdvanced": KSamplerAdvanced}
NODE_DISPLAY_NAME_MAPPINGS = {"KSampler": "KSampler", "KSamplerAdvanced": "KSampler (Advanced)"}
