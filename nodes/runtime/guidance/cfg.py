"""Classifier-free guidance over ComfyUI conditioning: every entry predicted in as few UNet batches as shapes allow.

x0 = uncond + (cond - uncond) * cfg, where cond (and uncond) is the weighted mean of its active entries' predictions
over the regions they cover (areas, masks and strengths: regions.py); an entry is active while sigma lies within its
start/end percent. With cfg = 1 the negative prompt cannot change the result, so it is not computed, as in ComfyUI
(unless a model patch asks for it). The model's cfg patches (models/patching.py) apply as in ComfyUI; each model
call goes through the model's function wrapper with ComfyUI's transformer options ("cond_or_uncond", "sigmas"),
and an entry's control object gives the UNet its residuals.
"""
from __future__ import annotations

import math

import torch

from graph_engine import InvalidNodeInput

from ..clip_vision.unclip import class_labels, image_pooled, takes_image_embedding
from ..gligen.patch import with_grounding
from ..models.diffusion_model import DiffusionModel
from ..models.patching import guide, skips_uncond
from ..models.x4_upscaler import class_labels as x4_class_labels
from .conditioning import CondEntry, with_mirrored_controls
from .image_inputs import image_input
from .regions import PlacedEntry, place_entries

MAX_REPEAT = 4  # contexts of different lengths batch together by repetition when the common length stays small


class GuidedDenoiser:
    """D(x, sigma) with classifier-free guidance, for the samplers."""

    def __init__(self, model: DiffusionModel, positive: list[CondEntry], negative: list[CondEntry],
                 cfg: float, *, latent_image: torch.Tensor | None = None,
                 denoise_mask: torch.Tensor | None = None, seed: int | None = None) -> None:
        """`latent_image` (model units) and `denoise_mask` are what an inpainting UNet reads where the conditioning
        gives it no image and mask of its own."""
        self.model = model
        self.latent_image = latent_image
        self.denoise_mask = denoise_mask
        self.seed = seed  # the sampling seed: unCLIP's embedding noise is drawn from it
        self.denoise = model.denoiser()
        self.groups = (positive, with_mirrored_controls(positive, negative))
        self.cfg = float(cfg)
        self._batch_inputs: dict[tuple, dict[str, torch.Tensor]] = {}
        self._placed: dict[tuple, list[PlacedEntry]] = {}
        self.controls = list({id(e.control): e.control for g in self.groups for e in g if e.control}.values())
        for control in self.controls:
            if hasattr(control, "pre_run"):
                control.pre_run(model)

    def cleanup(self) -> None:
        """Sampling is over: the controls may drop what they kept for it."""
        for control in self.controls:
            if hasattr(control, "cleanup"):
                control.cleanup()

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor, uncond_sink: dict | None = None,
                 **kwargs) -> torch.Tensor:
        """The guided x0; a CFG++ sampler's `uncond_sink` gets the negative's own prediction, computed even at
        cfg 1 (as ComfyUI computes it then)."""
        with_uncond = uncond_sink is not None or not skips_uncond(self.model.model_options, self.cfg)
        predictions = self.predict_groups(x, sigma, 2 if with_uncond else 1)
        if uncond_sink is not None:
            uncond_sink["uncond"] = predictions[1]
        return guide(self.model, predictions, self.cfg, x, sigma, self.groups)

    def placed(self, x: torch.Tensor) -> list[PlacedEntry]:
        """The entries placed on latents of x's shape, resolved once per shape (as ComfyUI does when sampling starts)."""
        key = (tuple(x.shape), x.device, x.dtype)
        if key not in self._placed:
            self._placed[key] = place_entries(self.groups, x, self.model.schedule.percent_to_sigma)
        return self._placed[key]

    def predict_groups(self, x: torch.Tensor, sigma: torch.Tensor, groups: int) -> list[torch.Tensor]:
        """Each group's mixed x0 prediction, all entries computed in as few UNet calls as shapes allow."""
        placed = [item for item in self.placed(x) if item.group < groups]
        if not all(item.always_active for item in placed):  # only then is sigma read on the host (a device wait)
            level = float(sigma.reshape(-1)[0])
            placed = [item for item in placed if item.active(level)]
        items = placed
        batches = _batches(items)
        if sorted(item.group for item in items) == list(range(groups)) and all(item.whole for item in items):
            # The usual case, one whole-image entry per group: its prediction is the group's (0 at strength 0).
            predictions = [p for batch in batches for p in self._predict(x, sigma, batch)]
            by_group = {item.group: p if item.entry.strength else torch.zeros_like(p)
                        for item, p in zip([i for batch in batches for i in batch], predictions)}
            return [by_group[g] for g in range(groups)]
        totals = [torch.zeros_like(x) for _ in range(groups)]
        counts = [torch.full_like(x, 1e-37) for _ in range(groups)]
        for batch in batches:
            predictions = self._predict(x, sigma, batch)
            for item, prediction in zip(batch, predictions):
                h, w, top, left = item.region
                totals[item.group][:, :, top:top + h, left:left + w] += prediction * item.weight
                counts[item.group][:, :, top:top + h, left:left + w] += item.weight
        return [total / count for total, count in zip(totals, counts)]

    def _predict(self, x: torch.Tensor, sigma: torch.Tensor, batch: list[PlacedEntry]) -> list[torch.Tensor]:
        """x0 for each item of the batch, in one model call through the model's function wrapper and control."""
        size = x.shape[0]
        crops = [x[:, :, top:top + h, left:left + w] for h, w, top, left in (item.region for item in batch)]
        x_in, sigmas = torch.cat(crops), sigma.reshape(-1).expand(size).repeat(len(batch))
        cond_or_uncond = [item.group for item in batch]
        options = {**self.model.model_options["transformer_options"], "cond_or_uncond": cond_or_uncond,
                   "sigmas": sigmas}
        options = with_grounding(options, batch, size, self.groups)  # GLIGEN's boxes, as the blocks' middle patch
        inputs = {**self._conditioning(x, batch), "transformer_options": options}
        control = batch[0].entry.control
        if control is not None:
            inputs["control"] = control.get_control(x_in, sigmas, inputs, len(batch), options)
        wrapper = self.model.model_options.get("model_function_wrapper")
        if wrapper is None:
            out = self.denoise(x_in, sigmas, **inputs)
        else:
            out = wrapper(self.denoise, {"input": x_in, "timestep": sigmas, "c": inputs,
                                         "cond_or_uncond": cond_or_uncond})
        return list(out.split(size))

    def _conditioning(self, x: torch.Tensor, batch: list[PlacedEntry]) -> dict[str, torch.Tensor]:
        """The UNet's conditioning inputs for a batch; the same every step, so built once per batch."""
        key = (tuple(id(item.entry) for item in batch), tuple(x.shape), x.device)
        if key not in self._batch_inputs:
            size = x.shape[0]
            length = math.lcm(*(item.entry.context.shape[1] for item in batch))
            contexts = [item.entry.context.repeat(1, length // item.entry.context.shape[1], 1).expand(size, -1, -1)
                        for item in batch]
            inputs = {"context": torch.cat([c.to(x.device) for c in contexts])}
            if self.model.uses_size_conditioning:
                image_height, image_width = x.shape[-2] * 8, x.shape[-1] * 8
                inputs["pooled"] = torch.cat([_pooled(item.entry, self.model, self.seed).to(x.device).expand(size, -1)
                                              for item in batch])
                inputs["time_ids"] = torch.cat([item.entry.time_ids(image_width, image_height).to(x.device)
                                                .expand(size, -1) for item in batch])
            if self.model.image_input is not None:
                inputs["image"] = torch.cat([self._image_input(item, x) for item in batch])
            if self.model.image_input == "x4_upscale":  # the low-res image's noise level
                inputs["class_labels"] = x4_class_labels([item.entry for item in batch], size).to(x.device)
            elif takes_image_embedding(self.model):
                inputs["class_labels"] = class_labels(self.model, [item.entry for item in batch], size,
                                                      self.seed).to(x.device)
            self._batch_inputs[key] = inputs
        return self._batch_inputs[key]

    def _image_input(self, item: PlacedEntry, x: torch.Tensor) -> torch.Tensor:
        """The entry's image input over its region (ComfyUI crops it with the latent)."""
        whole = image_input(self.model.image_input, item.entry.options, x, self.model.latent_format,
                            self.latent_image, self.denoise_mask, self.seed)
        h, w, top, left = item.region
        return whole[:, :, top:top + h, left:left + w]


def _pooled(entry: CondEntry, model: DiffusionModel, seed: int | None) -> torch.Tensor:
    if entry.options.get("unclip_conditioning"):  # SDXL "revision": image embeddings stand for the pooled text
        return image_pooled(model, entry.options["unclip_conditioning"], seed)
    if entry.pooled is None:
        raise InvalidNodeInput("SDXL conditioning needs a pooled text embedding; this conditioning has none (was "
                               "it made by another model's CLIP?)")
    return entry.pooled.reshape(1, -1)


def _batches(items: list[PlacedEntry]) -> list[list[PlacedEntry]]:
    """Items whose crops have one shape, whose context lengths repeat to a small common length and whose control is
the same run together."""
    batches: list[list[PlacedEntry]] = []
    for item in items:
        for batch in batches:
            if (batch[0].region[:2] != item.region[:2] or batch[0].entry.context.shape[2] != item.entry.context.shape[2]
                    or batch[0].entry.control is not item.entry.control):
                continue
            lengths = [other.entry.context.shape[1] for other in batch] + [item.entry.context.shape[1]]
            if math.lcm(*lengths) <= MAX_REPEAT * max(lengths):
                batch.append(item)
                break
        else:
            batches.append([item])
    return batches
